// Element-wise ops on f32 rows: add, bias add, scale, per-row scale, SwiGLU, GeGLU,
// product, sigmoid, SiLU, and the delta rule's decay softplus(a) · b[col].
#version 450

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(std430, binding = 0) readonly buffer BufA { float a_data[]; };
layout(std430, binding = 1) readonly buffer BufB { float b_data[]; };
layout(std430, binding = 2) writeonly buffer BufY { float y_data[]; };

#define OP_ADD 0        // a + b
#define OP_ADD_ROW 1    // a + b[col]
#define OP_SCALE 2      // a · s
#define OP_SCALE_ROWS 3 // a · b[row]
#define OP_SWIGLU 4     // silu(a) · b
#define OP_GEGLU 5      // gelu(a) · b, tanh approximation
#define OP_SCALE_ROWS_SIGMOID 6 // a · sigmoid(b[row])
#define OP_MUL 7        // a · b
#define OP_SIGMOID 8    // sigmoid(a)
#define OP_SILU 9       // a · sigmoid(a)
#define OP_SOFTPLUS_MUL_ROW 10 // softplus(a) · b[col]

layout(push_constant) uniform Push {
    uint op;
    uint n;       // elements
    uint n_cols;
    float s;
} p;

float gelu(float x) {
    // 0 at or below -10, x at or above 10, as the CPU backend has it.
    if (x <= -10.0) {
        return 0.0;
    }
    if (x >= 10.0) {
        return x;
    }
    const float c = 0.7978845608028654;
    return 0.5 * x * (1.0 + tanh(c * x * (1.0 + 0.044715 * x * x)));
}

void main() {
    const uint stride = gl_NumWorkGroups.x * WG;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        const float a = a_data[i];
        float y;
        switch (p.op) {
        case OP_ADD: y = a + b_data[i]; break;
        case OP_ADD_ROW: y = a + b_data[i % p.n_cols]; break;
        case OP_SCALE: y = a * p.s; break;
        case OP_SCALE_ROWS: y = a * b_data[i / p.n_cols]; break;
        case OP_SWIGLU: y = a / (1.0 + exp(-a)) * b_data[i]; break;
        case OP_SCALE_ROWS_SIGMOID: y = a * (1.0 / (1.0 + exp(-b_data[i / p.n_cols]))); break;
        case OP_MUL: y = a * b_data[i]; break;
        case OP_SIGMOID: y = 1.0 / (1.0 + exp(-a)); break;
        case OP_SILU: y = a / (1.0 + exp(-a)); break;
        case OP_SOFTPLUS_MUL_ROW: y = (a > 20.0 ? a : log(1.0 + exp(a))) * b_data[i % p.n_cols]; break;
        default: y = gelu(a) * b_data[i]; break;
        }
        y_data[i] = y;
    }
}

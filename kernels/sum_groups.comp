// Sums each group of `g` consecutive f32 rows: (n·g, m) → (n, m).
#version 450

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(std430, binding = 0) readonly buffer BufX { float x_data[]; };
layout(std430, binding = 1) writeonly buffer BufY { float y_data[]; };

layout(push_constant) uniform Push {
    uint n_cols;
    uint n;  // output elements
    uint g;
} p;

void main() {
    const uint stride = gl_NumWorkGroups.x * WG;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        const uint row = i / p.n_cols;
        const uint col = i % p.n_cols;
        float s = 0.0;
        for (uint j = 0; j < p.g; j++) {
            s += x_data[(row * p.g + j) * p.n_cols + col];
        }
        y_data[i] = s;
    }
}

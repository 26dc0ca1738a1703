// RMS norm over each chunk of `chunk` values of every row, times the weight vector; or
// (l2 = 1, no weight read) each chunk divided by its L2 norm √(Σx² + eps).
#version 450

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer BufX { float x_data[]; };
layout(std430, binding = 1) readonly buffer BufW { float w_data[]; };
layout(std430, binding = 2) writeonly buffer BufY { float y_data[]; };

layout(push_constant) uniform Push {
    uint chunk;     // values normalized together (= the weight's length)
    uint n_chunks;  // chunks in all
    float eps;
    uint l2;
} p;

shared float red[WG];

void main() {
    const uint c = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (c >= p.n_chunks) {
        return;
    }
    const uint tid = gl_LocalInvocationID.x;
    const uint base = c * p.chunk;
    float s = 0.0;
    for (uint i = tid; i < p.chunk; i += WG) {
        const float v = x_data[base + i];
        s += v * v;
    }
    red[tid] = s;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        if (tid < h) {
            red[tid] += red[tid + h];
        }
        barrier();
    }
    if (p.l2 != 0) {
        const float inv = 1.0 / sqrt(red[0] + p.eps);
        for (uint i = tid; i < p.chunk; i += WG) {
            y_data[base + i] = x_data[base + i] * inv;
        }
        return;
    }
    const float scale = 1.0 / sqrt(red[0] / float(p.chunk) + p.eps);
    for (uint i = tid; i < p.chunk; i += WG) {
        y_data[base + i] = x_data[base + i] * scale * w_data[i];
    }
}

// Columns of every row: of each `period` columns, the `width` from `offset` on.
#version 450

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(std430, binding = 0) readonly buffer BufX { float x_data[]; };
layout(std430, binding = 1) writeonly buffer BufY { float y_data[]; };

layout(push_constant) uniform Push {
    uint n;       // output elements
    uint n_cols;  // input columns
    uint offset;
    uint width;
    uint period;
} p;

void main() {
    const uint stride = gl_NumWorkGroups.x * WG;
    const uint out_cols = p.n_cols / p.period * p.width;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        const uint row = i / out_cols;
        const uint c = i % out_cols;
        y_data[i] = x_data[row * p.n_cols + (c / p.width) * p.period + p.offset + c % p.width];
    }
}

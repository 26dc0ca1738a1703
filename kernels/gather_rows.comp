// Copies rows of an f32 matrix by index: y[i] = x[rows[i]] (row selection, repetition).
#version 450

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer BufX { float x_data[]; };
layout(std430, binding = 1) readonly buffer BufI { uint rows[]; };
layout(std430, binding = 2) writeonly buffer BufY { float y_data[]; };

layout(push_constant) uniform Push {
    uint n_cols;
    uint n;  // output rows
} p;

void main() {
    const uint i = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (i >= p.n) {
        return;
    }
    const uint src = rows[i] * p.n_cols;
    for (uint c = gl_LocalInvocationID.x; c < p.n_cols; c += WG) {
        y_data[i * p.n_cols + c] = x_data[src + c];
    }
}

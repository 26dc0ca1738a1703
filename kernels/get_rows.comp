// Rows of an embedding matrix (DATA_A_<TYPE>) dequantized to f32.
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer BufA { uint a_data[]; };
// Pairs: (row in this binding, output row).
layout(std430, binding = 1) readonly buffer BufI { uint ids[]; };
layout(std430, binding = 2) writeonly buffer BufY { float y_data[]; };

#include "dequant.glsl"

layout(push_constant) uniform Push {
    uint k;          // values per row
    uint row_bytes;  // bytes per row
    uint n;          // pairs
} p;

void main() {
    const uint i = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (i >= p.n) {
        return;
    }
    const uint src = ids[2 * i];
    const uint dst = ids[2 * i + 1];
    const uint n_groups = (p.k + 31) / 32;
    for (uint g = gl_LocalInvocationID.x; g < n_groups; g += WG) {
        float v[32];
        dequant32_n(src * p.row_bytes, g, p.k, v);
        const uint n_here = min(32, p.k - g * 32);
        for (uint j = 0; j < n_here; j++) {
            y_data[dst * p.k + g * 32 + j] = v[j];
        }
    }
}

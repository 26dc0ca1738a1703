// Activations rounded as the CPU backend (and the reference engine) rounds them before a
// matrix product: to q8_0 blocks of 32 (ACT_Q8_0), q8_K blocks of 256 (ACT_Q8_K) or
// f16 (ACT_F16), and back to f32. One invocation per block.
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer BufX { float x_data[]; };
layout(std430, binding = 1) writeonly buffer BufY { float y_data[]; };

layout(push_constant) uniform Push {
    uint n_blocks;
    uint n_elems;  // ACT_F16: the last block may be partial
} p;

#include "half.glsl"

// Nearest integer, ties to even.
float rne(float v) {
    return roundEven(v);
}

void main() {
    const uint b = gl_WorkGroupID.y * gl_NumWorkGroups.x * WG + gl_GlobalInvocationID.x;
    if (b >= p.n_blocks) {
        return;
    }
#if defined(ACT_F16)
    const uint base = b * 32;
    for (uint i = 0; i < min(32, p.n_elems - base); i++) {
        y_data[base + i] = unpackHalf2x16(half_bits(x_data[base + i])).x;
    }
#elif defined(ACT_Q8_0)
    // d = f16(max|x| / 127), q = rne(x · 127 / max|x|)
    const uint base = b * 32;
    float amax = 0.0;
    for (uint i = 0; i < 32; i++) {
        amax = max(amax, abs(x_data[base + i]));
    }
    const float id = amax != 0.0 ? 127.0 / amax : 0.0;
    const float d = unpackHalf2x16(half_bits(amax / 127.0)).x;
    for (uint i = 0; i < 32; i++) {
        y_data[base + i] = d * rne(x_data[base + i] * id);
    }
#elif defined(ACT_Q8_K)
    // The value of largest magnitude (the first such) sets iscale = -127 / max;
    // q = min(127, rne(iscale · x)), d = 1 / iscale in f32.
    const uint base = b * 256;
    float amax = 0.0;
    float mx = 0.0;
    for (uint i = 0; i < 256; i++) {
        const float v = x_data[base + i];
        if (abs(v) > amax) {
            amax = abs(v);
            mx = v;
        }
    }
    if (amax == 0.0) {
        for (uint i = 0; i < 256; i++) {
            y_data[base + i] = 0.0;
        }
        return;
    }
    const float iscale = -127.0 / mx;
    const float d = 1.0 / iscale;
    for (uint i = 0; i < 256; i++) {
        y_data[base + i] = d * min(127.0, rne(iscale * x_data[base + i]));
    }
#else
#error "one of ACT_F16, ACT_Q8_0, ACT_Q8_K is required"
#endif
}

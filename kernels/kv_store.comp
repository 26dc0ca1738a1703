// Writes f32 K or V rows into a layer's cache at positions start.. (KV_F32, KV_F16, KV_Q8_0).
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer BufX { float x_data[]; };
layout(std430, binding = 1) buffer BufC { uint c_data[]; };

layout(push_constant) uniform Push {
    uint width;  // values per row
    uint start;  // first position written
    uint n;      // rows
} p;

#include "kv.glsl"

#if defined(KV_Q8_0)
// Two blocks (68 bytes) are 17 whole words: one invocation owns a pair of blocks and
// keeps the bytes of a block outside the written rows as they were.
void set_byte(inout uint w[17], uint off, uint v) {
    const uint sh = 8 * (off & 3);
    w[off >> 2] = (w[off >> 2] & ~(0xffu << sh)) | ((v & 0xff) << sh);
}

void main() {
    const uint nb = p.width / 32;
    const uint b_lo = p.start * nb;
    const uint b_hi = (p.start + p.n) * nb;
    const uint pair = b_lo / 2 + gl_WorkGroupID.y * gl_NumWorkGroups.x * WG + gl_GlobalInvocationID.x;
    if (2 * pair >= b_hi) {
        return;
    }
    uint w[17];
    for (uint i = 0; i < 17; i++) {
        w[i] = c_data[17 * pair + i];
    }
    for (uint h = 0; h < 2; h++) {
        const uint b = 2 * pair + h;
        if (b < b_lo || b >= b_hi) {
            continue;
        }
        const uint src = (b - b_lo) * 32;
        float amax = 0.0;
        for (uint i = 0; i < 32; i++) {
            amax = max(amax, abs(x_data[src + i]));
        }
        const float d = amax / 127.0;
        const float id = amax != 0.0 ? 127.0 / amax : 0.0;
        const uint d_bits = half_bits(d);
        set_byte(w, 34 * h, d_bits);
        set_byte(w, 34 * h + 1, d_bits >> 8);
        for (uint i = 0; i < 32; i++) {
            set_byte(w, 34 * h + 2 + i, uint(int(roundEven(x_data[src + i] * id))));
        }
    }
    for (uint i = 0; i < 17; i++) {
        c_data[17 * pair + i] = w[i];
    }
}
#else
void main() {
#if defined(KV_F16)
    const uint per = 2;
#else
    const uint per = 1;
#endif
    const uint i = gl_WorkGroupID.y * gl_NumWorkGroups.x * WG + gl_GlobalInvocationID.x;
    if (i * per >= p.n * p.width) {
        return;
    }
    const uint dst = p.start * p.width / per + i;
#if defined(KV_F16)
    c_data[dst] = half_bits(x_data[2 * i]) | (half_bits(x_data[2 * i + 1]) << 16);
#else
    c_data[dst] = floatBitsToUint(x_data[i]);
#endif
}
#endif

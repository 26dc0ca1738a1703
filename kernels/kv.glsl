// KV cache rows as 32-bit words: f32, f16 pairs or q8_0 blocks, read by value index
// (position · row width + column).
#ifndef KV_GLSL
#define KV_GLSL

uint kv_byte(uint w, uint off) {
    return (w >> (8 * (off & 3))) & 0xff;
}

#include "half.glsl"

// Value i of a cache buffer of each type. q8_0: block i/32 of 34 bytes, an f16 scale
// then 32 signed bytes.
#define KV_READ_F32(buf, i) uintBitsToFloat(buf[i])
#define KV_READ_F16(buf, i) unpackHalf2x16(buf[(i) >> 1])[(i) & 1]
#define KV_BYTE(buf, off) kv_byte(buf[(off) >> 2], off)
#define KV_READ_Q8_0(buf, i) kv_q8_0(KV_BYTE(buf, ((i) >> 5) * 34) | (KV_BYTE(buf, ((i) >> 5) * 34 + 1) << 8), \
                                     KV_BYTE(buf, ((i) >> 5) * 34 + 2 + ((i) & 31)))
float kv_q8_0(uint d_bits, uint q) {
    return unpackHalf2x16(d_bits).x * float(int(q << 24) >> 24);
}

#endif

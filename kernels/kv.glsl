// KV cache rows as 32-bit words: f32 (KV_F32), f16 pairs (KV_F16) or q8_0 blocks (KV_Q8_0),
// read by value index (position · row width + column).
#ifndef KV_GLSL
#define KV_GLSL

uint kv_byte(uint w, uint off) {
    return (w >> (8 * (off & 3))) & 0xff;
}

#include "half.glsl"

#if defined(KV_F32)
#define KV_READ(buf, i) uintBitsToFloat(buf[i])
#elif defined(KV_F16)
#define KV_READ(buf, i) unpackHalf2x16(buf[(i) >> 1])[(i) & 1]
#elif defined(KV_Q8_0)
// Block b of 32 values: f16 scale, then 32 signed bytes; 34 bytes per block.
#define KV_BYTE(buf, off) kv_byte(buf[(off) >> 2], off)
#define KV_READ(buf, i) kv_q8_0(KV_BYTE(buf, ((i) >> 5) * 34) | (KV_BYTE(buf, ((i) >> 5) * 34 + 1) << 8), \
                                KV_BYTE(buf, ((i) >> 5) * 34 + 2 + ((i) & 31)))
float kv_q8_0(uint d_bits, uint q) {
    return unpackHalf2x16(d_bits).x * float(int(q << 24) >> 24);
}
#else
#error "one of KV_F32, KV_F16, KV_Q8_0 is required"
#endif

#endif

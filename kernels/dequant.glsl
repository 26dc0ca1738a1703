// Dequantization of 32-value groups of a row of the type chosen by one DATA_A_<TYPE> define.
//
// Provides A_BLOCK_VALUES, A_BLOCK_BYTES and
//   dequant32(row_off, g, v):      v[i] = element 32*g + i of the row at byte row_off;
//   dequant32_n(row_off, g, k, v): the same, elements >= k read as 0 (for F32/F16 rows whose
//                                  length is not a multiple of 32; quant rows never need it).
// Arithmetic and order as the scalar reference in src/quant/reference/ (the test oracle).
#ifndef DEQUANT_GLSL
#define DEQUANT_GLSL

#include "types.glsl"

#if defined(DATA_A_F32) + defined(DATA_A_F16) + defined(DATA_A_Q4_0) + defined(DATA_A_Q4_1) \
    + defined(DATA_A_Q5_0) + defined(DATA_A_Q5_1) + defined(DATA_A_Q8_0) + defined(DATA_A_Q2_K) \
    + defined(DATA_A_Q3_K) + defined(DATA_A_Q4_K) + defined(DATA_A_Q5_K) + defined(DATA_A_Q6_K) \
    + defined(DATA_A_IQ4_NL) + defined(DATA_A_IQ4_XS) != 1
#error "dequant.glsl: define exactly one DATA_A_<TYPE>"
#endif

// The 16 non-linear levels of IQ4_NL and IQ4_XS.
const float KVALUES_IQ4NL[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0,
    -10.0, 1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

// The 6-bit (scale, min) of sub-block j (0..8) of the 12 Q4_K/Q5_K scale bytes at `off`.
uvec2 k4_scale_min(uint off, uint j) {
    if (j < 4u) {
        return uvec2(a_u8(off + j) & 63u, a_u8(off + j + 4u) & 63u);
    }
    uint lo = a_u8(off + j + 4u);
    return uvec2((lo & 15u) | ((a_u8(off + j - 4u) >> 6) << 4), (lo >> 4) | ((a_u8(off + j) >> 6) << 4));
}

#if defined(DATA_A_F32)
// ---- F32: plain little-endian floats ----
const uint A_BLOCK_VALUES = 32u;
const uint A_BLOCK_BYTES = 128u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + g * 128u;
    for (uint i = 0u; i < 32u; i++) {
        v[i] = a_f32(at + 4u * i);
    }
}

void dequant32_n(uint row_off, uint g, uint k, out float v[32]) {
    uint at = row_off + g * 128u;
    for (uint i = 0u; i < 32u; i++) {
        v[i] = 0.0;
        if (32u * g + i < k) {
            v[i] = a_f32(at + 4u * i);
        }
    }
}

#elif defined(DATA_A_F16)
// ---- F16: IEEE halves, two per word ----
const uint A_BLOCK_VALUES = 32u;
const uint A_BLOCK_BYTES = 64u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + g * 64u;
    for (uint i = 0u; i < 16u; i++) {
        vec2 h = unpackHalf2x16(a_u32(at + 4u * i));
        v[2u * i] = h.x;
        v[2u * i + 1u] = h.y;
    }
}

void dequant32_n(uint row_off, uint g, uint k, out float v[32]) {
    uint at = row_off + g * 64u;
    for (uint i = 0u; i < 32u; i++) {
        v[i] = 0.0;
        if (32u * g + i < k) {
            v[i] = a_f16(at + 2u * i);
        }
    }
}

#elif defined(DATA_A_Q4_0)
// ---- Q4_0 {f16 d; u8 qs[16]}: d * (q - 8); byte j holds element j (low) and j + 16 (high) ----
const uint A_BLOCK_VALUES = 32u;
const uint A_BLOCK_BYTES = 18u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + g * 18u;
    float d = a_f16(at);
    for (uint i = 0u; i < 4u; i++) {
        uint w = a_u32(at + 2u + 4u * i);
        for (uint b = 0u; b < 4u; b++) {
            uint j = 4u * i + b, q = w >> (8u * b);
            v[j] = float(int(q & 15u) - 8) * d;
            v[j + 16u] = float(int((q >> 4) & 15u) - 8) * d;
        }
    }
}

#elif defined(DATA_A_Q4_1)
// ---- Q4_1 {f16 d, m; u8 qs[16]}: d * q + m; nibbles as Q4_0 ----
const uint A_BLOCK_VALUES = 32u;
const uint A_BLOCK_BYTES = 20u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + g * 20u;
    float d = a_f16(at), m = a_f16(at + 2u);
    for (uint i = 0u; i < 4u; i++) {
        uint w = a_u32(at + 4u + 4u * i);
        for (uint b = 0u; b < 4u; b++) {
            uint j = 4u * i + b, q = w >> (8u * b);
            v[j] = float(q & 15u) * d + m;
            v[j + 16u] = float((q >> 4) & 15u) * d + m;
        }
    }
}

#elif defined(DATA_A_Q5_0)
// ---- Q5_0 {f16 d; u32 qh; u8 qs[16]}: d * (q - 16); bit 4 of element j is bit j of qh ----
const uint A_BLOCK_VALUES = 32u;
const uint A_BLOCK_BYTES = 22u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + g * 22u;
    float d = a_f16(at);
    uint qh = a_u32(at + 2u);
    for (uint i = 0u; i < 4u; i++) {
        uint w = a_u32(at + 6u + 4u * i);
        for (uint b = 0u; b < 4u; b++) {
            uint j = 4u * i + b, q = w >> (8u * b);
            uint q0 = (q & 15u) | (((qh >> j) & 1u) << 4);
            uint q1 = ((q >> 4) & 15u) | (((qh >> (j + 16u)) & 1u) << 4);
            v[j] = float(int(q0) - 16) * d;
            v[j + 16u] = float(int(q1) - 16) * d;
        }
    }
}

#elif defined(DATA_A_Q5_1)
// ---- Q5_1 {f16 d, m; u32 qh; u8 qs[16]}: d * q + m; bits as Q5_0 ----
const uint A_BLOCK_VALUES = 32u;
const uint A_BLOCK_BYTES = 24u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + g * 24u;
    float d = a_f16(at), m = a_f16(at + 2u);
    uint qh = a_u32(at + 4u);
    for (uint i = 0u; i < 4u; i++) {
        uint w = a_u32(at + 8u + 4u * i);
        for (uint b = 0u; b < 4u; b++) {
            uint j = 4u * i + b, q = w >> (8u * b);
            uint q0 = (q & 15u) | (((qh >> j) & 1u) << 4);
            uint q1 = ((q >> 4) & 15u) | (((qh >> (j + 16u)) & 1u) << 4);
            v[j] = float(q0) * d + m;
            v[j + 16u] = float(q1) * d + m;
        }
    }
}

#elif defined(DATA_A_Q8_0)
// ---- Q8_0 {f16 d; i8 qs[32]}: d * q ----
const uint A_BLOCK_VALUES = 32u;
const uint A_BLOCK_BYTES = 34u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + g * 34u;
    float d = a_f16(at);
    for (uint i = 0u; i < 8u; i++) {
        int w = int(a_u32(at + 2u + 4u * i));
        for (uint b = 0u; b < 4u; b++) {
            v[4u * i + b] = float(bitfieldExtract(w, int(8u * b), 8)) * d;
        }
    }
}

#elif defined(DATA_A_Q2_K)
// ---- Q2_K {u8 scales[16], qs[64]; f16 d, dmin} ----
// Group 4n + j (n, j < 2, 4): bits 2j of qs[32n + i]; sub-block 8n + 2j + i/16 whose scale
// byte is (min << 4 | scale): (d * scale) * q - dmin * min.
const uint A_BLOCK_VALUES = 256u;
const uint A_BLOCK_BYTES = 84u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + (g >> 3) * 84u, s = g & 7u;
    uint n = s >> 2, shift = 2u * (s & 3u);
    float d = a_f16(at + 80u), dmin = a_f16(at + 82u);
    for (uint h = 0u; h < 2u; h++) {
        uint sc = a_u8(at + 8u * n + 2u * (s & 3u) + h);
        float dl = d * float(sc & 15u), ml = dmin * float(sc >> 4);
        for (uint i = 0u; i < 4u; i++) {
            uint w = a_u32(at + 16u + 32u * n + 16u * h + 4u * i);
            for (uint b = 0u; b < 4u; b++) {
                uint q = (w >> (8u * b + shift)) & 3u;
                v[16u * h + 4u * i + b] = dl * float(q) - ml;
            }
        }
    }
}

#elif defined(DATA_A_Q3_K)
// ---- Q3_K {u8 hmask[32], qs[64], scales[12]; f16 d} ----
// Group 4n + j: low 2 bits as Q2_K, bit 4n + j of hmask[i] clear means "minus 4"; sub-block
// 8n + 2j + i/16 with a 6-bit scale (low nibble in byte sb % 8, high pair in byte 8 + sb % 4
// at bit 2 * (sb / 4)), re-centred by -32: (d * scale) * q.
const uint A_BLOCK_VALUES = 256u;
const uint A_BLOCK_BYTES = 110u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + (g >> 3) * 110u, s = g & 7u;
    uint n = s >> 2, shift = 2u * (s & 3u), hbit = s;
    float d = a_f16(at + 108u);
    for (uint h = 0u; h < 2u; h++) {
        uint sb = 8u * n + 2u * (s & 3u) + h;
        uint lo = (a_u8(at + 96u + (sb & 7u)) >> (4u * (sb >> 3))) & 15u;
        uint hi = (a_u8(at + 104u + (sb & 3u)) >> (2u * (sb >> 2))) & 3u;
        float dl = d * float(int(lo | (hi << 4)) - 32);
        for (uint i = 0u; i < 4u; i++) {
            uint w = a_u32(at + 32u + 32u * n + 16u * h + 4u * i);
            uint m = a_u32(at + 16u * h + 4u * i);
            for (uint b = 0u; b < 4u; b++) {
                int q = int((w >> (8u * b + shift)) & 3u) - (((m >> (8u * b + hbit)) & 1u) != 0u ? 0 : 4);
                v[16u * h + 4u * i + b] = dl * float(q);
            }
        }
    }
}

#elif defined(DATA_A_Q4_K)
// ---- Q4_K {f16 d, dmin; u8 scales[12], qs[128]} ----
// Group s: nibble s % 2 (low first) of qs[32 (s / 2) + i]; (d * sc) * q - dmin * m.
const uint A_BLOCK_VALUES = 256u;
const uint A_BLOCK_BYTES = 144u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + (g >> 3) * 144u, s = g & 7u;
    uvec2 sm = k4_scale_min(at + 4u, s);
    float dl = a_f16(at) * float(sm.x), ml = a_f16(at + 2u) * float(sm.y);
    uint shift = 4u * (s & 1u);
    for (uint i = 0u; i < 8u; i++) {
        uint w = a_u32(at + 16u + 32u * (s >> 1) + 4u * i);
        for (uint b = 0u; b < 4u; b++) {
            v[4u * i + b] = dl * float((w >> (8u * b + shift)) & 15u) - ml;
        }
    }
}

#elif defined(DATA_A_Q5_K)
// ---- Q5_K {f16 d, dmin; u8 scales[12], qh[32], qs[128]} ----
// As Q4_K, plus 16 where bit s of qh[i] is set.
const uint A_BLOCK_VALUES = 256u;
const uint A_BLOCK_BYTES = 176u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + (g >> 3) * 176u, s = g & 7u;
    uvec2 sm = k4_scale_min(at + 4u, s);
    float dl = a_f16(at) * float(sm.x), ml = a_f16(at + 2u) * float(sm.y);
    uint shift = 4u * (s & 1u);
    for (uint i = 0u; i < 8u; i++) {
        uint w = a_u32(at + 48u + 32u * (s >> 1) + 4u * i);
        uint qh = a_u32(at + 16u + 4u * i);
        for (uint b = 0u; b < 4u; b++) {
            uint q = ((w >> (8u * b + shift)) & 15u) | (((qh >> (8u * b + s)) & 1u) << 4);
            v[4u * i + b] = dl * float(q) - ml;
        }
    }
}

#elif defined(DATA_A_Q6_K)
// ---- Q6_K {u8 ql[128], qh[64]; i8 scales[16]; f16 d} ----
// Group 4n + j: low nibble (j < 2) or high nibble of ql[64n + 32 (j % 2) + i], bits 2j of
// qh[32n + i]; scale scales[8n + 2j + i/16]: (d * sc) * (q - 32).
const uint A_BLOCK_VALUES = 256u;
const uint A_BLOCK_BYTES = 210u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + (g >> 3) * 210u, s = g & 7u;
    uint n = s >> 2, j = s & 3u;
    uint lshift = 4u * (j >> 1), hshift = 2u * j;
    float d = a_f16(at + 208u);
    for (uint h = 0u; h < 2u; h++) {
        float dl = d * float(a_i8(at + 192u + 8u * n + 2u * j + h));
        for (uint i = 0u; i < 4u; i++) {
            uint l = 16u * h + 4u * i;
            uint ql = a_u32(at + 64u * n + 32u * (j & 1u) + l);
            uint qh = a_u32(at + 128u + 32u * n + l);
            for (uint b = 0u; b < 4u; b++) {
                uint q = ((ql >> (8u * b + lshift)) & 15u) | (((qh >> (8u * b + hshift)) & 3u) << 4);
                v[l + b] = dl * float(int(q) - 32);
            }
        }
    }
}

#elif defined(DATA_A_IQ4_NL)
// ---- IQ4_NL {f16 d; u8 qs[16]}: d * KVALUES_IQ4NL[q]; nibbles as Q4_0 ----
const uint A_BLOCK_VALUES = 32u;
const uint A_BLOCK_BYTES = 18u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + g * 18u;
    float d = a_f16(at);
    for (uint i = 0u; i < 4u; i++) {
        uint w = a_u32(at + 2u + 4u * i);
        for (uint b = 0u; b < 4u; b++) {
            uint j = 4u * i + b, q = w >> (8u * b);
            v[j] = d * KVALUES_IQ4NL[q & 15u];
            v[j + 16u] = d * KVALUES_IQ4NL[(q >> 4) & 15u];
        }
    }
}

#elif defined(DATA_A_IQ4_XS)
// ---- IQ4_XS {f16 d; u16 scales_h; u8 scales_l[4], qs[128]} ----
// Group s: the 16 bytes qs[16s..] coded as IQ4_NL with (d * (scale - 32)); the 6-bit scale
// is nibble s % 2 of scales_l[s / 2] with bits 2s of scales_h above it.
const uint A_BLOCK_VALUES = 256u;
const uint A_BLOCK_BYTES = 136u;

void dequant32(uint row_off, uint g, out float v[32]) {
    uint at = row_off + (g >> 3) * 136u, s = g & 7u;
    uint lo = (a_u8(at + 4u + (s >> 1)) >> (4u * (s & 1u))) & 15u;
    uint hi = (a_u16(at + 2u) >> (2u * s)) & 3u;
    float dl = a_f16(at) * float(int(lo | (hi << 4)) - 32);
    for (uint i = 0u; i < 4u; i++) {
        uint w = a_u32(at + 8u + 16u * s + 4u * i);
        for (uint b = 0u; b < 4u; b++) {
            uint j = 4u * i + b, q = w >> (8u * b);
            v[j] = dl * KVALUES_IQ4NL[q & 15u];
            v[j + 16u] = dl * KVALUES_IQ4NL[(q >> 4) & 15u];
        }
    }
}
#endif

#if !defined(DATA_A_F32) && !defined(DATA_A_F16)
// Quant rows are whole blocks, so every group is full.
void dequant32_n(uint row_off, uint g, uint k, out float v[32]) {
    dequant32(row_off, g, v);
}
#endif

#endif // DEQUANT_GLSL

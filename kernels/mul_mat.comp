// Matrix products y = x · Wᵀ of a quantized weight (DATA_A_<TYPE>) and f32 activations;
// with MUL_MAT_ID, each activation row goes through the expert a tile table names.
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
// Activation rows per workgroup (a tile): each dequantized group is used NT times.
#define NT 8

layout(std430, binding = 0) readonly buffer BufA { uint a_data[]; };
layout(std430, binding = 1) readonly buffer BufX { float x_data[]; };
layout(std430, binding = 2) buffer BufY { float y_data[]; };
#ifdef MUL_MAT_ID
// Word 0: the tile count; then per tile: expert, row count, NT activation rows (also the
// output rows). Built on the device by build_tiles.comp.
layout(std430, binding = 3) readonly buffer BufT { uint tiles[]; };
#define TILE_WORDS (2 + NT)
#endif

#include "dequant.glsl"

layout(push_constant) uniform Push {
    uint k;          // values per weight row
    uint m_rows;     // weight rows in this binding (per expert with MUL_MAT_ID)
    uint row0;       // output column of the binding's first row
    uint m;          // output row stride
    uint n;          // activation rows (MUL_MAT_ID: experts in this binding)
    uint x_off;      // first element of x in its binding
    uint y_off;      // first element of y in its binding
    uint row_bytes;  // bytes per weight row
    uint expert0;    // MUL_MAT_ID: first expert in this binding
} p;

// One invocation per weight row and tile of activation rows: no shared memory and no
// barriers (CPU drivers such as lavapipe pay dearly for those).
void main() {
    const uint r = gl_WorkGroupID.y * gl_NumWorkGroups.x * WG + gl_GlobalInvocationID.x;
    if (r >= p.m_rows) {
        return;
    }
#ifdef MUL_MAT_ID
    if (gl_WorkGroupID.z >= tiles[0]) {
        return;
    }
    const uint tile = 1 + gl_WorkGroupID.z * TILE_WORDS;
    if (tiles[tile] < p.expert0 || tiles[tile] >= p.expert0 + p.n) {
        return;
    }
    const uint expert = tiles[tile] - p.expert0;
    const uint nt = tiles[tile + 1];
    const uint row_off = (expert * p.m_rows + r) * p.row_bytes;
#else
    const uint t0 = gl_WorkGroupID.z * NT;
    const uint nt = min(NT, p.n - t0);
    const uint row_off = r * p.row_bytes;
#endif
    uint xrow[NT];
    float acc[NT];
    for (uint t = 0; t < NT; t++) {
#ifdef MUL_MAT_ID
        xrow[t] = t < nt ? tiles[tile + 2 + t] : 0;
#else
        xrow[t] = t0 + min(t, nt - 1);
#endif
        acc[t] = 0.0;
    }
    const uint n_groups = (p.k + 31) / 32;
    for (uint g = 0; g < n_groups; g++) {
        float v[32];
        dequant32_n(row_off, g, p.k, v);
        const uint n_here = min(32, p.k - g * 32);
        for (uint t = 0; t < nt; t++) {
            const uint xo = p.x_off + xrow[t] * p.k + g * 32;
            float s = 0.0;
            for (uint i = 0; i < n_here; i++) {
                s += v[i] * x_data[xo + i];
            }
            acc[t] += s;
        }
    }
    for (uint t = 0; t < nt; t++) {
        y_data[p.y_off + xrow[t] * p.m + p.row0 + r] = acc[t];
    }
}

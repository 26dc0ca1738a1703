// Causal attention of one query row and head over the cached keys and values of a
// layer, a block of WG keys at a time with a running max and sum (flash-style), GQA
// and an optional sliding window. K_<TYPE> and V_<TYPE> select the cache types.
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
#define MAX_HEAD_DIM 512

layout(std430, binding = 0) readonly buffer BufQ { float q_data[]; };
layout(std430, binding = 1) readonly buffer BufK { uint k_data[]; };
layout(std430, binding = 2) readonly buffer BufV { uint v_data[]; };
layout(std430, binding = 3) readonly buffer BufP { uint positions[]; };
layout(std430, binding = 4) writeonly buffer BufY { float y_data[]; };

#include "kv.glsl"

#if defined(K_F32)
#define K_READ(i) KV_READ_F32(k_data, i)
#elif defined(K_F16)
#define K_READ(i) KV_READ_F16(k_data, i)
#elif defined(K_Q8_0)
#define K_READ(i) KV_READ_Q8_0(k_data, i)
#else
#error "one of K_F32, K_F16, K_Q8_0 is required"
#endif
#if defined(V_F32)
#define V_READ(i) KV_READ_F32(v_data, i)
#elif defined(V_F16)
#define V_READ(i) KV_READ_F16(v_data, i)
#elif defined(V_Q8_0)
#define V_READ(i) KV_READ_Q8_0(v_data, i)
#else
#error "one of V_F32, V_F16, V_Q8_0 is required"
#endif

layout(push_constant) uniform Push {
    uint n_head;
    uint n_head_kv;
    uint head_dim_k;
    uint head_dim_v;
    float scale;
    uint window;  // 0: none; else a query at p sees keys at positions > p - window
} p;

shared float q[MAX_HEAD_DIM];
shared float prob[WG];
shared float red[WG];

float block_reduce_max(float v) {
    const uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        if (tid < h) {
            red[tid] = max(red[tid], red[tid + h]);
        }
        barrier();
    }
    const float r = red[0];
    barrier();
    return r;
}

float block_reduce_sum(float v) {
    const uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        if (tid < h) {
            red[tid] += red[tid + h];
        }
        barrier();
    }
    const float r = red[0];
    barrier();
    return r;
}

#define DV_PER (MAX_HEAD_DIM / WG)

void main() {
    const uint head = gl_WorkGroupID.x;
    const uint tok = gl_WorkGroupID.y;
    const uint tid = gl_LocalInvocationID.x;
    const uint kvh = head / (p.n_head / p.n_head_kv);
    const uint pos = positions[tok];
    const uint first = p.window == 0 || pos + 1 < p.window ? 0 : pos + 1 - p.window;
    const uint n_embd_k = p.n_head_kv * p.head_dim_k;
    const uint n_embd_v = p.n_head_kv * p.head_dim_v;

    const uint q_base = (tok * p.n_head + head) * p.head_dim_k;
    for (uint d = tid; d < p.head_dim_k; d += WG) {
        q[d] = q_data[q_base + d];
    }
    barrier();

    float acc[DV_PER];
    for (uint i = 0; i < DV_PER; i++) {
        acc[i] = 0.0;
    }
    float m = -1.0 / 0.0;
    float l = 0.0;
    for (uint j0 = first; j0 <= pos; j0 += WG) {
        const uint j = j0 + tid;
        float s = -1.0 / 0.0;
        if (j <= pos) {
            const uint kb = j * n_embd_k + kvh * p.head_dim_k;
            float dot_qk = 0.0;
            for (uint d = 0; d < p.head_dim_k; d++) {
                dot_qk += q[d] * K_READ(kb + d);
            }
            s = dot_qk * p.scale;
        }
        const float m_new = max(m, block_reduce_max(s));
        const float e = j <= pos ? exp(s - m_new) : 0.0;
        prob[tid] = e;
        const float rescale = exp(m - m_new);
        l = l * rescale + block_reduce_sum(e);
        m = m_new;
        const uint n_here = min(WG, pos + 1 - j0);
        for (uint i = 0; i < DV_PER; i++) {
            const uint d = tid + i * WG;
            if (d < p.head_dim_v) {
                float a = acc[i] * rescale;
                for (uint jj = 0; jj < n_here; jj++) {
                    a += prob[jj] * V_READ((j0 + jj) * n_embd_v + kvh * p.head_dim_v + d);
                }
                acc[i] = a;
            }
        }
        barrier();
    }
    const uint y_base = (tok * p.n_head + head) * p.head_dim_v;
    for (uint i = 0; i < DV_PER; i++) {
        const uint d = tid + i * WG;
        if (d < p.head_dim_v) {
            y_data[y_base + d] = acc[i] / l;
        }
    }
}

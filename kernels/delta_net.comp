// The gated delta rule of a DeltaNet layer, token by token. The state holds one d × d
// matrix S per value head, transposed (row j is column j of S); one invocation owns row
// j of head h, which evolves on its own given the token's k, q, v_j, decay and β:
//   row ← exp(g)·row;  δ = (v_j − row·k)·β;  row ← row + δ·k;  out_j = row·q / √d.
#version 450

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer BufQ { float q_data[]; };
layout(std430, binding = 1) readonly buffer BufK { float k_data[]; };
layout(std430, binding = 2) readonly buffer BufV { float v_data[]; };
layout(std430, binding = 3) readonly buffer BufG { float g_data[]; };
layout(std430, binding = 4) readonly buffer BufB { float b_data[]; };
layout(std430, binding = 5) buffer BufS { float state[]; };
layout(std430, binding = 6) writeonly buffer BufY { float y_data[]; };

layout(push_constant) uniform Push {
    uint n;         // tokens
    uint n_head_k;
    uint n_head_v;
    uint d;         // head dimension
} p;

void main() {
    const uint id = gl_WorkGroupID.y * gl_NumWorkGroups.x * WG + gl_GlobalInvocationID.x;
    if (id >= p.n_head_v * p.d) {
        return;
    }
    const uint h = id / p.d;
    const uint j = id % p.d;
    const uint kh = h % p.n_head_k;
    const uint row = id * p.d;
    const float scale = 1.0 / sqrt(float(p.d));
    for (uint t = 0; t < p.n; t++) {
        const uint qk = (t * p.n_head_k + kh) * p.d;
        const uint hv = t * p.n_head_v + h;
        const float decay = exp(g_data[hv]);
        float sk = 0.0;
        for (uint i = 0; i < p.d; i++) {
            const float m = state[row + i] * decay;
            state[row + i] = m;
            sk += m * k_data[qk + i];
        }
        const float delta = (v_data[hv * p.d + j] - sk) * b_data[hv];
        float sq = 0.0;
        for (uint i = 0; i < p.d; i++) {
            const float m = state[row + i] + delta * k_data[qk + i];
            state[row + i] = m;
            sq += m * q_data[qk + i];
        }
        y_data[hv * p.d + j] = sq * scale;
    }
}

// The router's choice for each token: softmax over its expert logits, the k most likely
// experts (ties to the lower id) and their probabilities, renormalized if asked.
// One invocation per token, in the order the CPU sums.
#version 450

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer BufL { float logits[]; };
layout(std430, binding = 1) buffer BufI { uint ids[]; };
layout(std430, binding = 2) writeonly buffer BufW { float weights[]; };

layout(push_constant) uniform Push {
    uint n_expert;
    uint k;
    uint n_rows;
    uint norm;  // 1: the k weights sum to 1
} p;

void main() {
    const uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x * WG + gl_GlobalInvocationID.x;
    if (row >= p.n_rows) {
        return;
    }
    const uint base = row * p.n_expert;
    float mx = -1.0 / 0.0;
    for (uint e = 0; e < p.n_expert; e++) {
        mx = max(mx, logits[base + e]);
    }
    float sum = 0.0;
    for (uint e = 0; e < p.n_expert; e++) {
        sum += exp(logits[base + e] - mx);
    }
    float chosen = 0.0;
    for (uint j = 0; j < p.k; j++) {
        uint best = 0;
        float best_p = -1.0;
        for (uint e = 0; e < p.n_expert; e++) {
            bool taken = false;
            for (uint i = 0; i < j; i++) {
                taken = taken || ids[row * p.k + i] == e;
            }
            const float pr = exp(logits[base + e] - mx) / sum;
            if (!taken && pr > best_p) {
                best = e;
                best_p = pr;
            }
        }
        ids[row * p.k + j] = best;
        weights[row * p.k + j] = best_p;
        chosen += best_p;
    }
    if (p.norm != 0) {
        for (uint j = 0; j < p.k; j++) {
            weights[row * p.k + j] /= chosen;
        }
    }
}

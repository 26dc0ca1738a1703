// Rotary position embeddings, adjacent pairs (normal) or split halves (neox, and the
// interleaved multi-section rope of text tokens: pairs no section claims stay as they are).
#version 450

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer BufX { float x_data[]; };
layout(std430, binding = 1) readonly buffer BufP { uint positions[]; };
layout(std430, binding = 2) writeonly buffer BufY { float y_data[]; };

layout(push_constant) uniform Push {
    uint n_head;
    uint head_dim;
    uint n_rot;       // dimensions rotated at the start of each head
    uint neox;        // 1: pairs (i, i + n_rot/2); 0: pairs (2i, 2i + 1)
    float theta_scale;  // freq_base^(-2/n_rot), computed on the host as the CPU does
    float freq_scale;
    uint n_tokens;
    uint imrope;      // 1: only pairs claimed by sections s0..s2 rotate
    uint s0;
    uint s1;
    uint s2;
    uint s_total;     // s0 + s1 + s2 + s3
} p;

// Whether pair j rotates: sections claim pairs in turn (0, 1, 2, 0, 1, 2, ...), each up
// to its length, as `RopeMode::rotates_pair`.
bool rotates(uint j) {
    if (p.imrope == 0 || p.s_total == 0) {
        return true;
    }
    const uint sector = j % p.s_total;
    const uint m = sector % 3;
    return sector < 3 * (m == 0 ? p.s0 : (m == 1 ? p.s1 : p.s2));
}

// 2π in two parts: k · TWO_PI_HI is exact for k < 2^16, so the reduction loses nothing
// to the size of θ.
const float TWO_PI_HI = 6.28125;
const float TWO_PI_LO = 0.0019353071795864769;

void main() {
    // One invocation per pair of values: (token, head, pair).
    const uint half_dim = p.head_dim / 2;
    const uint id = gl_WorkGroupID.y * gl_NumWorkGroups.x * WG + gl_GlobalInvocationID.x;
    if (id >= p.n_tokens * p.n_head * half_dim) {
        return;
    }
    const uint j = id % half_dim;
    const uint head = id / half_dim;  // token · n_head + head
    const uint tok = head / p.n_head;
    const uint base = head * p.head_dim;
    const uint half_rot = p.n_rot / 2;
    if (j >= half_rot || !rotates(j)) {
        if (j < half_rot) {
            const uint a = p.neox != 0 ? j : 2 * j;
            const uint b = p.neox != 0 ? j + half_rot : 2 * j + 1;
            y_data[base + a] = x_data[base + a];
            y_data[base + b] = x_data[base + b];
            return;
        }
        const uint a = p.n_rot + 2 * (j - half_rot);
        y_data[base + a] = x_data[base + a];
        y_data[base + a + 1] = x_data[base + a + 1];
        return;
    }
    // θ as the CPU computes it: the position times the per-pair step, j times, in f32.
    float theta = float(positions[tok]);
    for (uint i = 0; i < j; i++) {
        theta *= p.theta_scale;
    }
    theta *= p.freq_scale;
    const float k = floor(theta / (TWO_PI_HI + TWO_PI_LO) + 0.5);
    theta = (theta - k * TWO_PI_HI) - k * TWO_PI_LO;
    const float c = cos(theta);
    const float s = sin(theta);
    const uint a = p.neox != 0 ? j : 2 * j;
    const uint b = p.neox != 0 ? j + half_rot : 2 * j + 1;
    const float x0 = x_data[base + a];
    const float x1 = x_data[base + b];
    y_data[base + a] = x0 * c - x1 * s;
    y_data[base + b] = x0 * s + x1 * c;
}

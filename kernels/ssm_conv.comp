// Causal conv1d of a gated DeltaNet layer, one invocation per channel: each output row
// is the sum of the channel's `d_conv` taps times that input row and the `d_conv - 1`
// before it, the first taken from the cached state (oldest first, `c` per row); the
// state then keeps the last `d_conv - 1` inputs.
#version 450

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer BufX { float x_data[]; };
layout(std430, binding = 1) readonly buffer BufW { float w_data[]; };
layout(std430, binding = 2) buffer BufS { float state[]; };
layout(std430, binding = 3) writeonly buffer BufY { float y_data[]; };

layout(push_constant) uniform Push {
    uint c;       // channels
    uint n;       // tokens
    uint d_conv;  // taps
} p;

// Input row r of the sequence state ++ x (`d_conv - 1` state rows first).
float input_at(uint r, uint ch) {
    const uint hist = p.d_conv - 1;
    return r < hist ? state[r * p.c + ch] : x_data[(r - hist) * p.c + ch];
}

void main() {
    const uint ch = gl_WorkGroupID.y * gl_NumWorkGroups.x * WG + gl_GlobalInvocationID.x;
    if (ch >= p.c) {
        return;
    }
    const uint hist = p.d_conv - 1;
    for (uint t = 0; t < p.n; t++) {
        float s = 0.0;
        for (uint i = 0; i < p.d_conv; i++) {
            s += input_at(t + i, ch) * w_data[ch * p.d_conv + i];
        }
        y_data[t * p.c + ch] = s;
    }
    // The last `hist` inputs, oldest first; rows are read before they are overwritten.
    for (uint r = 0; r < hist; r++) {
        state[r * p.c + ch] = input_at(p.n + r, ch);
    }
}

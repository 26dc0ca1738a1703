// The tile table of mul_mat.comp's MUL_MAT_ID variant, from expert ids on the device:
// word 0 the tile count, then per tile its expert, its row count and up to NT rows.
// One invocation walks the experts in order and their rows in order.
#version 450

layout(local_size_x_id = 0) in;
#define NT 8
#define TILE_WORDS (2 + NT)

layout(std430, binding = 0) readonly buffer BufI { uint ids[]; };
layout(std430, binding = 1) writeonly buffer BufT { uint tiles[]; };

layout(push_constant) uniform Push {
    uint n_rows;
    uint n_expert;
} p;

void main() {
    if (gl_GlobalInvocationID.x != 0) {
        return;
    }
    uint n_tiles = 0;
    for (uint e = 0; e < p.n_expert; e++) {
        uint count = 0;
        for (uint r = 0; r < p.n_rows; r++) {
            if (ids[r] != e) {
                continue;
            }
            if (count == 0) {
                tiles[1 + n_tiles * TILE_WORDS] = e;
                n_tiles++;
            }
            const uint t = 1 + (n_tiles - 1) * TILE_WORDS;
            tiles[t + 2 + count] = r;
            count++;
            tiles[t + 1] = count;
            if (count == NT) {
                count = 0;
            }
        }
    }
    tiles[0] = n_tiles;
}

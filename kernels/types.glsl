// Little-endian byte readers over the including kernel's `uint a_data[]` buffer (offsets in bytes).
//
// The kernel declares, before including this file,
//   layout(std430, binding = 0) readonly buffer BufA { uint a_data[]; };
// Only core GLSL 450: no 8/16-bit storage, so any Vulkan 1.1 device (lavapipe too) runs it.
// A read touches the next word only when the value really straddles it.
#ifndef TYPES_GLSL
#define TYPES_GLSL

uint a_u8(uint off) {
    return bitfieldExtract(a_data[off >> 2], int(off & 3u) * 8, 8);
}

int a_i8(uint off) {
    return bitfieldExtract(int(a_data[off >> 2]), int(off & 3u) * 8, 8);
}

uint a_u16(uint off) {
    uint sh = (off & 3u) * 8u;
    uint w = a_data[off >> 2] >> sh;
    if (sh == 24u) {
        w |= a_data[(off >> 2) + 1u] << 8;
    }
    return w & 0xFFFFu;
}

uint a_u32(uint off) {
    uint sh = (off & 3u) * 8u;
    uint w = a_data[off >> 2];
    if (sh != 0u) {
        w = (w >> sh) | (a_data[(off >> 2) + 1u] << (32u - sh));
    }
    return w;
}

float a_f16(uint off) {
    return unpackHalf2x16(a_u16(off)).x;
}

float a_f32(uint off) {
    return uintBitsToFloat(a_u32(off));
}

#endif // TYPES_GLSL

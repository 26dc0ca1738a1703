// Rounding f32 to f16 bits the way the CPU does, independent of the driver.
#ifndef HALF_GLSL
#define HALF_GLSL

// The f16 bits of f, rounded to nearest, ties to even, as the CPU rounds (drivers'
// packHalf2x16 may truncate).
uint half_bits(float f) {
    const uint x = floatBitsToUint(f);
    const uint sign = (x >> 16) & 0x8000u;
    const uint e = (x >> 23) & 0xffu;
    uint m = x & 0x7fffffu;
    if (e == 0xffu) {
        return sign | 0x7c00u | (m != 0u ? 0x200u : 0u);
    }
    const int ex = int(e) - 112;  // rebias 127 → 15
    if (ex >= 31) {
        return sign | 0x7c00u;
    }
    uint shift = 13u;
    uint h;
    if (ex <= 0) {
        if (ex < -10) {
            return sign;
        }
        m |= 0x800000u;
        shift = uint(14 - ex);
        h = m >> shift;
    } else {
        h = (uint(ex) << 10) | (m >> 13);
    }
    const uint rem = m & ((1u << shift) - 1u);
    const uint halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (h & 1u) != 0u)) {
        h += 1u;  // a carry into the exponent is the right rounding
    }
    return sign | h;
}

#endif

// Raw element conversion shared by the safetensors and npy readers and writers: every stored
// numeric type to Float32, and Float32 to the floating-point types, with exact IEEE half and
// bfloat16 rounding (ties to even), independent of the platform's `Float16` support.

/// Converts `count` elements of `dtype` (little-endian unless `bigEndian`) to Float32.
func decodeElements(_ source: UnsafeRawBufferPointer, as dtype: SafeTensors.DType, count: Int,
                    bigEndian: Bool = false) -> [Float] {
    precondition(source.count >= count * dtype.byteSize, "element buffer too short")
    func convert<T: FixedWidthInteger>(_: T.Type, _ transform: (T) -> Float) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                let value = source.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)
                buffer[i] = transform(bigEndian ? T(bigEndian: value) : T(littleEndian: value))
            }
            initialized = count
        }
    }
    switch dtype {
    case .float32:
        #if _endian(little)
        if !bigEndian {
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: source.baseAddress!, byteCount: count * 4) }
                initialized = count
            }
        }
        #endif
        return convert(UInt32.self) { Float(bitPattern: $0) }
    case .float64: return convert(UInt64.self) { Float(Double(bitPattern: $0)) }
    case .float16: return convert(UInt16.self, HalfPrecision.float)
    case .bfloat16: return convert(UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
    case .bool: return convert(UInt8.self) { $0 == 0 ? 0 : 1 }
    case .uint8: return convert(UInt8.self) { Float($0) }
    case .int8: return convert(Int8.self) { Float($0) }
    case .int16: return convert(Int16.self) { Float($0) }
    case .uint16: return convert(UInt16.self) { Float($0) }
    case .int32: return convert(Int32.self) { Float($0) }
    case .uint32: return convert(UInt32.self) { Float($0) }
    case .int64: return convert(Int64.self) { Float($0) }
    case .uint64: return convert(UInt64.self) { Float($0) }
    }
}

/// Stores Float32 values as a floating-point `dtype`, little-endian.
func encodeElements(_ values: UnsafeBufferPointer<Float>, as dtype: SafeTensors.DType,
                    into target: UnsafeMutableRawBufferPointer) {
    precondition(target.count >= values.count * dtype.byteSize, "output buffer too short")
    func store<T: FixedWidthInteger>(_ transform: (Float) -> T) {
        for (i, value) in values.enumerated() {
            target.storeBytes(of: transform(value).littleEndian, toByteOffset: i * MemoryLayout<T>.size, as: T.self)
        }
    }
    switch dtype {
    case .float32: store { $0.bitPattern }
    case .float64: store { Double($0).bitPattern }
    case .float16: store(HalfPrecision.bits)
    case .bfloat16: store(HalfPrecision.bfloat16Bits)
    default: preconditionFailure("cannot encode dtype \(dtype.rawValue)")
    }
}

/// IEEE half precision and bfloat16 conversions, rounding to nearest even.
enum HalfPrecision {
    /// The Float32 value of half-precision bits (exact).
    static func float(_ bits: UInt16) -> Float {
        let sign: UInt32 = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24 // zero or subnormal: mantissa × 2⁻²⁴
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// Half-precision bits nearest to `value` (ties to even; overflow gives ±inf).
    static func bits(_ value: Float) -> UInt16 {
        let pattern = value.bitPattern
        let sign = UInt16((pattern >> 16) & 0x8000)
        let exponent = Int((pattern >> 23) & 0xFF)
        let mantissa = pattern & 0x7F_FFFF
        if exponent == 0xFF {
            return sign | 0x7C00 | (mantissa != 0 ? 0x200 | UInt16(mantissa >> 13) : 0)
        }
        let halfExponent = exponent - 112
        if halfExponent >= 0x1F { return sign | 0x7C00 }
        if halfExponent <= 0 {
            // Subnormal or zero: the half mantissa is (1.m × 2^(e−127)) / 2⁻²⁴.
            if halfExponent < -10 { return sign }
            return sign | UInt16(roundShift(mantissa | 0x80_0000, by: UInt32(14 - halfExponent)))
        }
        let combined = (UInt32(halfExponent) << 23) | mantissa
        return sign | UInt16(roundShift(combined, by: 13)) // a carry into the exponent is correct
    }

    /// bfloat16 bits nearest to `value` (the high half of the Float32 pattern, ties to even).
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        let pattern = value.bitPattern
        if value.isNaN { return UInt16(pattern >> 16) | 0x40 }
        return UInt16((pattern &+ 0x7FFF &+ ((pattern >> 16) & 1)) >> 16)
    }

    /// `value >> shift` rounded to nearest, ties to even.
    private static func roundShift(_ value: UInt32, by shift: UInt32) -> UInt32 {
        let kept = value >> shift
        let remainder = value & ((1 << shift) - 1)
        let halfway: UInt32 = 1 << (shift - 1)
        return (remainder > halfway || (remainder == halfway && kept & 1 == 1)) ? kept + 1 : kept
    }
}

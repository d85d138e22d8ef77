import CZMQ

extension ZMQSocket {
    /// Sets a socket option, e.g. `try socket.set(.sndhwm, 10_000)`.
    ///
    /// Most options only affect binds and connects made after they are set.
    public func set<Value>(_ option: ZMQSocketOption<Value>, _ value: Value) throws(ZMQError) {
        let pointer = try openPointer()
        // The casts cannot fail: every `ZMQSocketOption` is built by a factory
        // whose `Value` matches its encoding.
        switch option.encoding {
        case .int32:
            guard var number = Int32(exactly: value as! Int) else {
                throw ZMQError(code: EINVAL)
            }
            try setRaw(pointer, option.name, &number, MemoryLayout<Int32>.size)
        case .int64:
            var number = Int64(value as! Int)
            try setRaw(pointer, option.name, &number, MemoryLayout<Int64>.size)
        case .bool:
            var flag: Int32 = (value as! Bool) ? 1 : 0
            try setRaw(pointer, option.name, &flag, MemoryLayout<Int32>.size)
        case .bytes:
            try setBytes(pointer, option.name, value as! [UInt8])
        case .string:
            try setBytes(pointer, option.name, Array((value as! String).utf8))
        case .curveKey:
            // libzmq also accepts 32 raw bytes; a Z85 key is exactly 40 characters.
            let key = Array((value as! String).utf8)
            guard key.count == 40 else {
                throw ZMQError(code: EINVAL)
            }
            try setBytes(pointer, option.name, key)
        }
    }

    /// Reads a socket option, e.g. `try socket.get(.rcvhwm)`.
    public func get<Value>(_ option: ZMQSocketOption<Value>) throws(ZMQError) -> Value {
        let pointer = try openPointer()
        let value: Any
        switch option.encoding {
        case .int32:
            var number: Int32 = 0
            var size = MemoryLayout<Int32>.size
            try check(zmq_getsockopt(pointer, option.name, &number, &size))
            value = Int(number)
        case .int64:
            var number: Int64 = 0
            var size = MemoryLayout<Int64>.size
            try check(zmq_getsockopt(pointer, option.name, &number, &size))
            value = Int(number)
        case .bool:
            var flag: Int32 = 0
            var size = MemoryLayout<Int32>.size
            try check(zmq_getsockopt(pointer, option.name, &flag, &size))
            value = flag != 0
        case .bytes(let capacity):
            var buffer = [UInt8](repeating: 0, count: capacity)
            var size = capacity
            try check(zmq_getsockopt(pointer, option.name, &buffer, &size))
            value = Array(buffer.prefix(size))
        case .string(let capacity):
            var buffer = [CChar](repeating: 0, count: capacity)
            var size = capacity
            try check(zmq_getsockopt(pointer, option.name, &buffer, &size))
            value = String(zmqBuffer: buffer)
        case .curveKey:
            // A 41-byte buffer asks libzmq for the Z85 form (40 characters + NUL).
            var buffer = [CChar](repeating: 0, count: 41)
            var size = buffer.count
            try check(zmq_getsockopt(pointer, option.name, &buffer, &size))
            value = String(zmqBuffer: buffer)
        }
        return value as! Value
    }

    private func setRaw(
        _ pointer: UnsafeMutableRawPointer,
        _ name: Int32,
        _ value: UnsafeRawPointer,
        _ size: Int
    ) throws(ZMQError) {
        try check(zmq_setsockopt(pointer, name, value, size))
    }

    private func setBytes(_ pointer: UnsafeMutableRawPointer, _ name: Int32, _ bytes: [UInt8]) throws(ZMQError) {
        let result = bytes.withUnsafeBytes { buffer in
            zmq_setsockopt(pointer, name, buffer.baseAddress, buffer.count)
        }
        try check(result)
    }
}

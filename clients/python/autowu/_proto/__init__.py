"""Generated protobuf code for protocol/autowu.proto (package autowu.v1). See clients/python/README.md."""

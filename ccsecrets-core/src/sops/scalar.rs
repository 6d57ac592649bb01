//! Scalar text forms shared by the stores and the cipher: Go's float formatting, YAML
//! timestamps.

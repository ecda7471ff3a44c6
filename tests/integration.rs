//! Integration tests, compiled as one binary: they run tokenstorm against its embedded target on 127.0.0.1.

mod integration {
    mod profile_errors;
}

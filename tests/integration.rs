//! Integration tests, compiled as one binary: they run tokenstorm against its embedded target on 127.0.0.1.

mod integration {
    mod cli;
    mod expiry_signatures;
    mod profile_errors;
    mod support;
}

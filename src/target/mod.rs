//! The embedded simulated OAuth2 + contacts server (placeholder until the target branch lands).

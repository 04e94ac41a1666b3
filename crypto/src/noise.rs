//! Noise under encryption: integer DP noise, drawn by the caller (the compute crate, with
//! OpenDP), added homomorphically to every aggregate before anything is decrypted.
//!
//! The noise is a clear integer added to the encrypted aggregate (a plaintext addition: the
//! ciphertext noise does not grow), so the keyholder only ever decrypts `sum + noise`. The
//! domain must forget the drawn noise once added (it never stores or logs it): otherwise it
//! could subtract it from the released value. Both tiers refuse a noise that could leave
//! their exact message space.

use crate::bootstrapped::BootstrappedAggregate;
use crate::error::{CryptoError, Result};
use crate::linear::LinearAggregate;

/// Adds `noises[i]` to `aggregates[i]` for every linear aggregate.
pub fn noise_linear(aggregates: &mut [LinearAggregate], noises: &[i64]) -> Result<()> {
    check_lengths(aggregates.len(), noises.len())?;
    aggregates.iter_mut().zip(noises).try_for_each(|(a, &n)| a.add_noise(n))
}

/// Adds `noises[i]` to `aggregates[i]` for every bootstrapped aggregate (needs the server key
/// installed).
pub fn noise_bootstrapped(aggregates: &mut [BootstrappedAggregate], noises: &[i64]) -> Result<()> {
    check_lengths(aggregates.len(), noises.len())?;
    aggregates.iter_mut().zip(noises).try_for_each(|(a, &n)| a.add_noise(n))
}

fn check_lengths(aggregates: usize, noises: usize) -> Result<()> {
    if aggregates != noises {
        return Err(CryptoError::InvalidInput(format!("{noises} noise values for {aggregates} aggregates")));
    }
    Ok(())
}

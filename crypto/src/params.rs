//! The TFHE-rs parameters of the bootstrapped tier, shared by the keys that are generated
//! for it and by the tier itself.

use tfhe::shortint::parameters::{
    PARAM_KEYSWITCH_TO_SMALL_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128, PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};
use tfhe::{Config, ConfigBuilder};

/// Name of the parameter sets, written in manifests.
pub const PARAMETER_SET: &str = "TFHE-rs 1.8 PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 + PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 (ZK PKE v2)";

/// The TFHE-rs configuration of the tier: default 2-bit-message parameters (128-bit security,
/// failure probability 2^-128) with dedicated compact public-key parameters for proven
/// encryption.
pub fn config() -> Config {
    ConfigBuilder::with_custom_parameters(PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128)
        .use_dedicated_compact_public_key_parameters((
            PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
            PARAM_KEYSWITCH_TO_SMALL_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
        ))
        .build()
}

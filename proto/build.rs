//! Generates the Rust types, client and server of `shuyu/admin/v1/admin.proto` with a
//! vendored `protoc`, so that a fresh machine needs no protobuf installation.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let proto = "shuyu/admin/v1/admin.proto";
    println!("cargo:rerun-if-changed={proto}");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        // Messages print as JSON on the command line (`shuyu admin … --output json`).
        .type_attribute(".shuyu.admin.v1", "#[derive(serde::Serialize)]")
        .build_client(true)
        .build_server(true)
        .compile_with_config(config, &[proto], &["."])?;
    Ok(())
}

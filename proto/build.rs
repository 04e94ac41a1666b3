//! Generates the Rust types, clients and servers of `shuyu/admin/v1/admin.proto`,
//! `shuyu/keyholder/v1/keyholder.proto` and `shuyu/imports/v1/imports.proto` with a
//! vendored `protoc`, so that a fresh machine needs no protobuf installation.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let protos = ["shuyu/admin/v1/admin.proto", "shuyu/keyholder/v1/keyholder.proto", "shuyu/imports/v1/imports.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        // Messages print as JSON on the command line (`shuyu admin … --output json`).
        .type_attribute(".shuyu.admin.v1", "#[derive(serde::Serialize)]")
        .build_client(true)
        .build_server(true)
        .compile_with_config(config, &protos, &["."])?;
    Ok(())
}

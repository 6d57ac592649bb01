# The ccsecrets binary, built from the workspace and its Cargo.lock (no vendored hashes to
# keep in sync: every dependency comes from crates.io and is pinned by Cargo.lock).
{ lib, rustPlatform }:

rustPlatform.buildRustPackage {
  pname = "ccsecrets";
  version = (builtins.fromTOML (builtins.readFile ../Cargo.toml)).workspace.package.version;

  src = lib.cleanSourceWith {
    src = lib.cleanSource ../.;
    # Build outputs, the oracle venv and the separate fuzz workspace are not sources.
    filter = path: type: !(builtins.elem (baseNameOf path) [ "target" ".venv" "fuzz" ]);
  };

  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [
    "-p"
    "ccsecrets-cli"
  ];

  # The test suite needs the real sops and age binaries as oracles (scripts/test.sh
  # installs them); it runs in CI, not inside the sandboxed build.
  doCheck = false;

  meta = {
    description = "sops-compatible secrets for a public base repo and a private instance repo";
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "ccsecrets";
    platforms = lib.platforms.linux;
  };
}

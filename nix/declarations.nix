# The sops-nix declarations of one ccsecrets instance, from builtins only (no nixpkgs), so
# that it evaluates with a bare `nix-instantiate` (tests/tests/nix.rs does).
#
# `instance` is the instance repository: a flake input, a store path or a path. Its
# committed glue, sops-nix.json (written by `ccsecrets nix --write` from the same secret
# schema the Rust side uses; `ccsecrets check` fails when it and secrets/secrets.yaml
# disagree), lists every secret with its key, path, owner, group, mode and restartUnits.
# The result is the value of the `sops` option:
#
#   sops = import ./declarations.nix { instance = inputs.instance; };
{
  instance,
  ageKeyFile ? "/var/lib/sops-nix/key.txt",
  sshKeyPaths ? [ "/etc/ssh/ssh_host_ed25519_key" ],
}:
let
  # A path stays a path (sops-nix copies it to the store); anything else (a flake input, a
  # store path string) is used as a string.
  file =
    rel: if builtins.isPath instance then instance + "/${rel}" else "${toString instance}/${rel}";
  glueFile = file "sops-nix.json";
  format = "ccsecrets-sops-nix/1";
  glue =
    if !builtins.pathExists glueFile then
      throw "ccsecrets: ${toString glueFile} does not exist; run `ccsecrets nix --instance DIR --write` in the instance repo and commit sops-nix.json"
    else
      builtins.fromJSON (builtins.readFile glueFile);
  secrets =
    if (glue.format or null) == format then
      glue.secrets
    else
      throw "ccsecrets: ${toString glueFile} is not in the ${format} format; regenerate it with `ccsecrets nix --write`";
in
{
  defaultSopsFile = file "secrets/secrets.yaml";
  age = {
    keyFile = ageKeyFile;
    inherit sshKeyPaths;
    generateKey = false;
  };
  secrets = builtins.mapAttrs (_name: s: {
    inherit (s)
      key
      path
      owner
      group
      mode
      restartUnits
      ;
  }) secrets;
}

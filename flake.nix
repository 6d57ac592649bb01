# ccsecrets as a flake: the package, and the NixOS module that wires an instance repo into
# sops-nix. See docs/install.md ("NixOS module") for how a base repo uses it.
{
  description = "ccsecrets: sops-compatible secrets for a public base repo and a private instance repo";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      # `nix build` / `nix run`: the ccsecrets binary, built from Cargo.lock.
      packages = forAllSystems (pkgs: rec {
        ccsecrets = pkgs.callPackage ./nix/package.nix { };
        default = ccsecrets;
      });

      # Declares sops.defaultSopsFile, sops.age.* and one sops.secrets."<key>" per secret of
      # the instance (from its committed sops-nix.json). Import sops-nix's module beside it.
      nixosModules.default = import ./nix/module.nix;
      nixosModules.ccsecrets = self.nixosModules.default;

      # The same declarations as a plain function (builtins only), for non-module use.
      lib.declarations = import ./nix/declarations.nix;
    };
}

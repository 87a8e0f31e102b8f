"""The external repositories Vigil's BUILD files refer to, in one place.

Vigil's own WORKSPACE calls this, and so does any workspace that depends on
Vigil through local_repository (see examples/external/WORKSPACE):

    local_repository(name = "vigil", path = "/path/to/vigil")
    load("@vigil//tools:vigil_deps.bzl", "vigil_dependencies")
    vigil_dependencies(vigil_path = "/path/to/vigil")

The repository must be named "vigil". Everything is local: Bazel 4 would
otherwise download rules_cc, rules_java and remote_coverage_tools, so tiny
stand-ins that forward to the native rules take their place, and every C++
library comes from Debian packages under /usr (tools/setup.sh).
"""

def vigil_dependencies(vigil_path = "."):
    """Declares @rules_cc, @rules_java, @remote_coverage_tools and @system.

    Args:
      vigil_path: Vigil's checkout, absolute or relative to the calling
        workspace's root ("." from Vigil itself).
    """
    native.local_repository(
        name = "rules_cc",
        path = vigil_path + "/third_party/rules_cc",
    )
    native.local_repository(
        name = "rules_java",
        path = vigil_path + "/third_party/rules_java",
    )
    native.local_repository(
        name = "remote_coverage_tools",
        path = vigil_path + "/third_party/remote_coverage_tools",
    )
    native.new_local_repository(
        name = "system",
        # A label in this .bzl's repository: //... here, @vigil//... outside.
        build_file = str(Label("//third_party/system:BUILD.system")),
        path = "/usr",
    )

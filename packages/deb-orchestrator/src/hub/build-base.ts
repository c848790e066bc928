import { loadProfile } from "@debian-bootc/deb-mock";
import { defaultMirror } from "@debian-bootc/debian";

/**
 * What a buildArch's environment is made from before any tag repository is added: deb-mock's base, the
 * suite, components and mirror of the profile the builder picks for the build tag and architecture. The
 * hub's dep-wait check searches it (after the tag's repository) whether or not the tag has external
 * repositories, so a tag that builds on the profile's suite alone is checked too.
 */
export interface BuildBase {
  /** How messages name it with its suite: "debian" gives "debian/trixie". */
  name: string;
  url: string;
  suite: string;
  /** Space-separated, as external repositories store them. */
  components: string;
  /** Keyring (a binary OpenPGP keyring file) to verify its Release with; default Debian's archive keyring. */
  keyring?: string;
}

/** The base of a build tag and architecture, or undefined when the hub cannot tell what it holds. */
export type BuildBaseResolver = (buildTag: string, arch: string) => Promise<BuildBase | undefined>;

/** deb-mock's default profile choice, as a builder without a profile map makes it. */
export const defaultProfileFor = (_buildTag: string, arch: string): string => `debian-trixie-${arch}`;

/** A builder's profile choice from its profile map: the build tag's entry, else the architecture's, else the default. */
export const profileFromMap =
  (map: Readonly<Record<string, string>>) =>
  (buildTag: string, arch: string): string =>
    map[buildTag] ?? map[arch] ?? defaultProfileFor(buildTag, arch);

/**
 * The base as deb-mock builds it from the profile `profileFor` names (read from the same configuration
 * directories deb-mock reads on this host; a profile without a mirror uses the host's APT mirror). A
 * profile that is missing, for another architecture, or that adds extra APT sources (whose contents the
 * check would not see) gives undefined: apt on the builder decides then.
 */
export function debMockBuildBase(profileFor: (buildTag: string, arch: string) => string = defaultProfileFor): BuildBaseResolver {
  return async (buildTag, arch) => {
    const name = profileFor(buildTag, arch);
    const profile = await loadProfile(name).then(
      (loaded) => loaded.profile,
      () => undefined,
    );
    if (!profile || profile.architecture !== arch || profile.extraSources.length > 0) return undefined;
    return {
      name: name.split("-")[0] || name,
      url: profile.mirror ?? (await defaultMirror()),
      suite: profile.suite,
      components: profile.components.join(" "),
    };
  };
}

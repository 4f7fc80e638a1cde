// Which Node versions codecell runs on: isolated-vm ships prebuilt binaries for some Node ABIs
// only, one isolated-vm major per set of ABIs (docs/adr-0004-node-versions.md). Kept free of
// imports so the bins can check the version before loading anything native.

/** The Node majors codecell supports. */
export const SUPPORTED_NODE_MAJORS: readonly number[] = [22, 24, 26];

/** For each supported Node major, the installed isolated-vm aliases with a prebuild for it, preferred first. */
export const PREBUILT_ISOLATED_VM: Readonly<Record<number, readonly string[]>> = {
  22: ['isolated-vm-6'],
  24: ['isolated-vm-7', 'isolated-vm-6'],
  26: ['isolated-vm-7'],
};

/** The major of a Node version such as "24.1.0" or "v24.1.0". */
export function nodeMajor(version: string): number {
  return Number(version.replace(/^v/, '').split('.')[0]);
}

/** One line naming the supported versions, or undefined when `version` (e.g. "24.1.0") is supported. */
export function unsupportedNodeMessage(version: string): string | undefined {
  if (SUPPORTED_NODE_MAJORS.includes(nodeMajor(version))) return undefined;
  return `codecell supports Node 22, 24 and 26 (isolated-vm has prebuilt binaries for those); this is Node ${version}`;
}

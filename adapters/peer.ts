// The frameworks the adapters work with are optional peer dependencies: an entry point whose
// framework is not installed says so, naming what to install, instead of a bare module error.

/** The module `load` imports, or an Error naming `adapter` and what to install. */
export async function peerDependency<T>(load: () => Promise<T>, adapter: string, name: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error(`${adapter} needs ${name}, which is not installed: npm install ${name}`, { cause: error });
  }
}

// Types of compiled-cli.js (plain JavaScript: it runs before any TypeScript loader).
/** Name of the build record inside the output directory. */
export declare const BUILD_RECORD: string;
/** Version of the build record's format. */
export declare const BUILD_RECORD_FORMAT: number;
/** The URL of the compiled CLI's entry when its build matches the sources now on disk, else undefined. */
export declare function currentCompiledCli(root: string): URL | undefined;

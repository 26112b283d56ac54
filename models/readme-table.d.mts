/** Types of readme-table.mjs (the generated tables of models/README.md). */
export declare const BEGIN: string;
export declare const END: string;
export declare function duration(seconds: number | null | undefined): string;
export declare function modelsTable(models: readonly object[]): string;
export declare function evaluationTable(models: readonly object[], baselines: object | undefined): string;
export declare function generated(models: readonly object[], baselines: object | undefined): string;
export declare function withGenerated(readme: string, block: string): string;
export declare function currentGenerated(readme: string): string | undefined;
export declare function byBundledOrder(a: string, b: string): number;

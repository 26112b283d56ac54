/** Vite's `?url` imports (browser tests load fixture bytes through them). */
declare module '*?url' {
  const url: string;
  export default url;
}

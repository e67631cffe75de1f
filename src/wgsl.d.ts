// WGSL sources are imported as text (`?raw`), the same way under Vite builds and vitest.
declare module '*.wgsl?raw' {
  const code: string;
  export default code;
}

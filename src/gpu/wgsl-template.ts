// The tiny template step for WGSL variants that `override` constants cannot express (register-array
// sizes, binding element types), and for WGSL shared between kernels. Three forms only:
//   //#include "file.wgsl"           replaced by that file of the launcher's library (expanded first, so an include
//                                    may sit inside an #if; each file comes in once)
//   {{NAME}}                         replaced by the value of NAME
//   //#if NAME ... //#else ... //#endif   kept or dropped by NAME being non-zero (may nest)
import { ShaderError } from './errors';

export type TemplateValues = Record<string, number>;

/** WGSL files a kernel may include, by file name. */
export type WgslLibrary = Readonly<Record<string, string>>;

/** `code` with every `//#include "file.wgsl"` line replaced by that file of `library`, itself expanded. A file
 *  included a second time (two kernels' shared pieces both bringing in a third) adds nothing. */
export function includeWgsl(shader: string, code: string, library: WgslLibrary, seen = new Set<string>()): string {
  return code.split('\n').map((line, i) => {
    const include = line.trim().match(/^\/\/#include\s+"([^"]+)"\s*$/);
    if (!include) return line;
    const file = include[1];
    if (!(file in library)) throw new ShaderError(shader, `line ${i + 1}: includes '${file}', which is not in its library (${Object.keys(library).join(', ') || 'none'})`);
    if (seen.has(file)) return '';
    seen.add(file);
    return includeWgsl(shader, library[file].replace(/\n$/, ''), library, seen);
  }).join('\n');
}

/** The kernel `code` rendered: its includes from `library`, then the template values. */
export function renderWgsl(shader: string, code: string, values: TemplateValues, library: WgslLibrary = {}): string {
  code = includeWgsl(shader, code, library);
  const out: string[] = [];
  const stack: { active: boolean; parentActive: boolean; name: string }[] = [];
  let active = true;
  code.split('\n').forEach((line, i) => {
    const directive = line.trim().match(/^\/\/#(if|else|endif)\b\s*(\w*)/);
    if (directive) {
      const [, kind, name] = directive;
      if (kind === 'if') {
        // Inside a dropped region nested names need no value.
        if (active && !(name in values)) throw new ShaderError(shader, `line ${i + 1}: template value '${name}' not given`);
        stack.push({ active, parentActive: active, name });
        active = active && values[name] !== 0;
      } else if (kind === 'else') {
        const top = stack[stack.length - 1];
        if (!top) throw new ShaderError(shader, `line ${i + 1}: //#else without //#if`);
        active = top.parentActive && !values[top.name];
      } else {
        const top = stack.pop();
        if (!top) throw new ShaderError(shader, `line ${i + 1}: //#endif without //#if`);
        active = top.parentActive;
      }
      return;
    }
    if (!active) return;
    out.push(
      line.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
        if (!(name in values)) throw new ShaderError(shader, `line ${i + 1}: template value '${name}' not given`);
        return String(values[name]);
      }),
    );
  });
  if (stack.length) throw new ShaderError(shader, `//#if ${stack[stack.length - 1].name} is never closed`);
  return out.join('\n');
}

/** A cache-key-friendly shader name for a rendered variant, e.g. 'matmul[TM=8,TN=8]'. */
export function variantName(shader: string, values: TemplateValues): string {
  const keys = Object.keys(values).sort();
  return `${shader}[${keys.map((k) => `${k}=${values[k]}`).join(',')}]`;
}

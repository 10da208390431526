/** The boards' search: a name substring, labels (key=value) and a time window, all applied by the server. */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { parseLabelInput, timeWindows } from "../queries.ts";

export interface SearchValues {
  name: string;
  label: string;
  since: string;
}

export function SearchFields(props: { idPrefix: string; values: SearchValues; onChange: (patch: Partial<SearchValues>) => void }): JSX.Element {
  const { idPrefix: p, values } = props;
  const [name, setName] = useState(values.name);
  const [label, setLabel] = useState(values.label);
  useEffect(() => setName(values.name), [values.name]);
  useEffect(() => setLabel(values.label), [values.label]);
  const labelValid = parseLabelInput(label) !== null;
  return (
    <>
      <div class="field grow">
        <label for={`${p}-name`}>Name</label>
        <input id={`${p}-name`} type="search" value={name} placeholder="any name" onInput={(e) => setName(e.currentTarget.value)} onChange={(e) => props.onChange({ name: e.currentTarget.value.trim() })} />
      </div>
      <div class="field">
        <label for={`${p}-label`}>Labels</label>
        <input
          id={`${p}-label`}
          type="search"
          value={label}
          placeholder="key=value"
          aria-invalid={labelValid ? undefined : "true"}
          aria-describedby={labelValid ? undefined : `${p}-label-error`}
          onInput={(e) => setLabel(e.currentTarget.value)}
          onChange={(e) => {
            const text = e.currentTarget.value.trim();
            if (parseLabelInput(text) !== null) props.onChange({ label: text });
          }}
        />
        {labelValid ? null : (
          <span id={`${p}-label-error`} class="field-error" role="alert">
            Write labels as key=value (several separated by spaces).
          </span>
        )}
      </div>
      <div class="field">
        <label for={`${p}-since`}>Submitted</label>
        <select id={`${p}-since`} value={values.since} onChange={(e) => props.onChange({ since: e.currentTarget.value })}>
          <option value="">any time</option>
          {Object.entries(timeWindows).map(([k, w]) => (
            <option key={k} value={k}>
              in {w.label}
            </option>
          ))}
        </select>
      </div>
    </>
  );
}

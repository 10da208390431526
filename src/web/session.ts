/** The signed-in token, shared through a context. */
import { createContext } from "preact";
import { useContext } from "preact/hooks";

export interface SessionValue {
  token: string;
  signOut(why?: "expired" | "user"): void;
}

export const SessionContext = createContext<SessionValue | null>(null);

export function useSession(): SessionValue | null {
  return useContext(SessionContext);
}

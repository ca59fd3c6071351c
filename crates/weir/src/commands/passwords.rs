//! Where the CLI gets passwords from: one line of standard input (`--password-stdin`), a
//! prompt on the terminal that does not echo, or a generated one. Problems here are bad
//! usage (exit 2), so they are `String`s for [`crate::commands::output::usage`].

use std::io::BufRead;

/// The shortest password the server accepts.
pub const MIN_LEN: usize = 8;

/// The first line of `input`, without its line ending. Spaces are kept: they may be part
/// of the password.
pub fn read_line(mut input: impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("standard input held no password (an empty first line)".into());
    }
    Ok(password.to_string())
}

/// The first line of this process's standard input.
pub fn from_stdin() -> Result<String, String> {
    read_line(std::io::stdin().lock())
}

/// Asks on the terminal without echo. `hint` says how to give the password without one.
pub fn prompt(question: &str, hint: &str) -> Result<String, String> {
    // rpassword talks to /dev/tty, not stdin, so a piped stdin does not stop it; without
    // a controlling terminal, opening it fails and there is no one to ask.
    let password = rpassword::prompt_password(question)
        .map_err(|e| format!("no terminal to ask for the password on ({e}): {hint}"))?;
    if password.is_empty() {
        return Err("no password given".into());
    }
    Ok(password)
}

/// Asks for a new password twice, on the terminal.
pub fn prompt_new(username: &str, hint: &str) -> Result<String, String> {
    let password = prompt(&format!("New password for {username}: "), hint)?;
    check(&password)?;
    let again = prompt("Again: ", hint)?;
    if again != password {
        return Err("the two passwords differ".into());
    }
    Ok(password)
}

/// A password the server would take (it checks too, but a usage error here saves a
/// round trip and says exactly what is wrong).
pub fn check(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!("a password needs at least {MIN_LEN} characters"));
    }
    Ok(())
}

/// The characters of generated passwords: letters and digits, so a password survives
/// being pasted into a shell, a URL or a YAML file.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// How long generated passwords are: 24 of 62 characters is about 143 bits.
const GENERATED_LEN: usize = 24;

/// A strong random password from the operating system's randomness.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut password = String::with_capacity(GENERATED_LEN);
    let mut bytes = [0u8; 64];
    // Bytes at or above the largest multiple of the alphabet's size are dropped, so that
    // every character is equally likely.
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    while password.len() < GENERATED_LEN {
        getrandom::fill(&mut bytes)?;
        for &b in &bytes {
            if b < limit && password.len() < GENERATED_LEN {
                password.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_gives_its_first_line() {
        assert_eq!(read_line(&b"s3cret pw\nnext\n"[..]), Ok("s3cret pw".into()));
        assert_eq!(read_line(&b"s3cret\r\n"[..]), Ok("s3cret".into()));
        assert_eq!(read_line(&b"no newline"[..]), Ok("no newline".into()));
        assert!(read_line(&b"\n"[..]).is_err());
        assert!(read_line(&b""[..]).is_err());
    }

    #[test]
    fn passwords_need_eight_characters() {
        assert!(check("1234567").is_err());
        assert!(check("12345678").is_ok());
        // Characters, not bytes.
        assert!(check("ééééééé").is_err());
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let a = generate().expect("randomness");
        let b = generate().expect("randomness");
        assert_eq!(a.len(), GENERATED_LEN);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
        assert!(check(&a).is_ok());
    }
}

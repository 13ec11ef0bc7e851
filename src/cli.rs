//! The command line: `serve` (default), `create-admin`, `print-schema`.
//!
//! Hand-rolled rather than a parser crate: three commands and a handful of flags do not earn
//! the compile time.

use std::path::PathBuf;

pub const USAGE: &str = "\
agora — GraphQL API for a social marketplace

USAGE:
    agora [--config FILE] [COMMAND]

COMMANDS:
    serve                 Serve the API (default)
    create-admin          Create an admin account, or make an existing account an admin
        --email EMAIL         Required
        --username NAME       For a new account (default: from the email)
        --display-name NAME   For a new account (default: the username)
        --password-stdin      Read the new account's password from standard input
                              (otherwise a random one is generated and printed once)
    print-schema          Print the GraphQL schema (SDL) to standard output

OPTIONS:
    --config FILE         TOML configuration file (default: ./agora.toml if it exists)
    -h, --help            Print this help
    -V, --version         Print the version

Every setting can also be set with APP__SECTION__KEY environment variables,
e.g. APP__HTTP__BIND=0.0.0.0:3000 or APP__STORE__MONGODB_URI=mongodb://…
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve,
    CreateAdmin {
        email: String,
        username: Option<String>,
        display_name: Option<String>,
        password_stdin: bool,
    },
    PrintSchema,
    Help,
    Version,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub config: Option<PathBuf>,
    pub command: Command,
}

impl Cli {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut args = args.into_iter().peekable();
        let mut config = None;
        let mut command = None;
        let (mut email, mut username, mut display_name, mut password_stdin) =
            (None, None, None, false);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match arg.as_str() {
                "-h" | "--help" | "help" => command = Some(Command::Help),
                "-V" | "--version" => command = Some(Command::Version),
                "--config" => config = Some(PathBuf::from(value("--config")?)),
                "--email" => email = Some(value("--email")?),
                "--username" => username = Some(value("--username")?),
                "--display-name" => display_name = Some(value("--display-name")?),
                "--password-stdin" => password_stdin = true,
                "serve" | "create-admin" | "print-schema" if command.is_none() => {
                    command = Some(match arg.as_str() {
                        "serve" => Command::Serve,
                        "print-schema" => Command::PrintSchema,
                        _ => Command::CreateAdmin {
                            email: String::new(),
                            username: None,
                            display_name: None,
                            password_stdin: false,
                        },
                    });
                }
                other => return Err(format!("unexpected argument `{other}`; see --help")),
            }
        }
        let command = match command.unwrap_or(Command::Serve) {
            Command::CreateAdmin { .. } => Command::CreateAdmin {
                email: email.ok_or("create-admin needs --email")?,
                username,
                display_name,
                password_stdin,
            },
            other => {
                if email.is_some() || username.is_some() || display_name.is_some() || password_stdin
                {
                    return Err("--email, --username, --display-name and --password-stdin go with create-admin".into());
                }
                other
            }
        };
        Ok(Self { config, command })
    }

    /// The explicit `--config`, else `./agora.toml` when it exists.
    pub fn config_file(&self) -> Option<PathBuf> {
        self.config.clone().or_else(|| {
            let default = PathBuf::from("agora.toml");
            default.exists().then_some(default)
        })
    }
}

/// Runs the command line; what `main` calls.
pub fn run(args: impl IntoIterator<Item = String>) -> std::process::ExitCode {
    use std::process::ExitCode;
    let cli = match Cli::parse(args) {
        Ok(cli) => cli,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    match &cli.command {
        Command::Help => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("agora {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::PrintSchema => {
            print!("{}", crate::graphql::sdl());
            return ExitCode::SUCCESS;
        }
        Command::Serve | Command::CreateAdmin { .. } => {}
    }
    init_tracing();
    let config = match crate::config::Config::load(cli.config_file().as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::CreateAdmin {
                email,
                username,
                display_name,
                password_stdin,
            } => create_admin(config, &email, username, display_name, password_stdin).await,
            _ => serve(config).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

async fn serve(config: crate::config::Config) -> Result<(), String> {
    let started = std::time::Instant::now();
    let app = crate::App::build(config).await.map_err(|e| e.to_string())?;
    let core = app.core();
    tracing::info!(
        address = %app.local_addr(),
        store = core.stores.health.backend_name(),
        startup_ms = started.elapsed().as_millis() as u64,
        "serving GraphQL at http://{}/graphql (GraphiQL at /, WebSocket at /graphql/ws)",
        app.local_addr()
    );
    app.run_until(crate::app::shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn create_admin(
    config: crate::config::Config,
    email: &str,
    username: Option<String>,
    display_name: Option<String>,
    password_stdin: bool,
) -> Result<(), String> {
    use crate::domain::{DisplayName, Email, NewPassword, Username};
    let email = Email::parse(email).map_err(|e| e.describe())?;
    let username = match username {
        Some(name) => Username::parse(&name),
        None => {
            let local: String = email
                .as_str()
                .split('@')
                .next()
                .unwrap_or_default()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            Username::parse(
                &format!("admin_{local}")
                    .chars()
                    .take(30)
                    .collect::<String>(),
            )
        }
    }
    .map_err(|e| e.describe())?;
    let display_name = DisplayName::parse(display_name.as_deref().unwrap_or(username.as_str()))
        .map_err(|e| e.describe())?;
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        (
            NewPassword::parse("password", &line).map_err(|e| e.describe())?,
            false,
        )
    } else {
        use rand::RngCore;
        let mut bytes = [0u8; 18];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let random =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
        (
            NewPassword::parse("password", &random).map_err(|e| e.describe())?,
            true,
        )
    };
    let core = crate::app::Core::build(config)
        .await
        .map_err(|e| e.to_string())?;
    let (user, created) = core
        .services
        .admin
        .create_admin(email, username, display_name, Some(&password))
        .await
        .map_err(|e| format!("{}: {}", e.code(), e.client_message()))?;
    if created {
        println!(
            "created admin {} <{}>",
            user.username.as_str(),
            user.email.as_str()
        );
        if generated {
            println!("password (shown once): {}", password.expose());
        }
    } else {
        println!(
            "{} <{}> is now an admin",
            user.username.as_str(),
            user.email.as_str()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn serve_is_the_default_command() {
        assert_eq!(parse(&[]).unwrap().command, Command::Serve);
        assert_eq!(
            parse(&["--config", "x.toml"]).unwrap().config,
            Some(PathBuf::from("x.toml"))
        );
    }

    #[test]
    fn create_admin_requires_an_email() {
        assert!(parse(&["create-admin"]).is_err());
        assert_eq!(
            parse(&["create-admin", "--email", "a@b.co", "--password-stdin"])
                .unwrap()
                .command,
            Command::CreateAdmin {
                email: "a@b.co".into(),
                username: None,
                display_name: None,
                password_stdin: true
            }
        );
    }

    #[test]
    fn stray_arguments_are_errors() {
        assert!(parse(&["serve", "--email", "a@b.co"]).is_err());
        assert!(parse(&["launch"]).is_err());
        assert!(parse(&["--config"]).is_err());
    }
}

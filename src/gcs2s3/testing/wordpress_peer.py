"""A throwaway real WordPress on this machine, for tests, benchmarks and the demo (never used by a sync).

Debian's `wordpress` package with its own MariaDB: a private data directory and socket, no TCP
(`--skip-networking`), torn down on exit. Debian's wp-config.php reads
`/etc/wordpress/config-$WORDPRESS_CONFIG.php`; we write one such file per instance (under a name of
our own, removed on exit) pointing at the private database and a private wp-content. `php(...)` runs
a PHP snippet with WordPress loaded, as WordPress's own code would run it. With `serve=True` it is
also served over HTTP on 127.0.0.1 by PHP's built-in server (`PHP_CLI_SERVER_WORKERS` workers, a
router like wp-cli's `wp server`), with an application password for its admin user, pretty permalinks
or not, and optionally a request-body limit answered with 413 as nginx's `client_max_body_size` does.

The packages are installed by `scripts/install_system_packages.sh` (root, apt); `missing()` names what is
not there.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socket as socket_module
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gcs2s3.testing.emulators import READY_TIMEOUT_S, Emulator, free_port, spawn
from gcs2s3.testing.peak_memory import watch_peak_rss

WORDPRESS_ROOT = Path("/usr/share/wordpress")
CONFIG_DIR = Path("/etc/wordpress")
MARIADBD = "/usr/sbin/mariadbd"
PHP_MODULES = ("gd", "mysqli", "exif")
_instances = itertools.count()


class WordPressUnavailable(RuntimeError):
    """The packages a real WordPress needs are not installed here."""


def missing() -> list[str]:
    """What a WordPress peer needs and this machine lacks (empty when it can start one)."""
    lacks = []
    if not (WORDPRESS_ROOT / "wp-load.php").exists():
        lacks.append("wordpress")
    if not Path(MARIADBD).exists() or not shutil.which("mariadb-install-db"):
        lacks.append("mariadb-server")
    if not shutil.which("php"):
        lacks.append("php-cli")
    else:
        loaded = subprocess.run(["php", "-m"], capture_output=True, text=True).stdout.lower().split()
        lacks += [f"php-{m}" if m != "mysqli" else "php-mysql" for m in PHP_MODULES if m not in loaded]
    return lacks


@dataclass
class WordPress:
    """A running WordPress: its files, database socket and config name."""

    workdir: Path
    socket: Path
    config_name: str
    content_dir: Path
    peak_rss_kib: int = 0
    url: str = ""  # http://127.0.0.1:PORT when served
    user: str = "admin"
    app_password: str = ""  # of `user`, when served

    @property
    def uploads(self) -> Path:
        return self.content_dir / "uploads"

    def env(self) -> dict[str, str]:
        return {**os.environ, "WORDPRESS_CONFIG": self.config_name, "HTTP_HOST": "127.0.0.1"}

    def php(self, body: str, *args: str) -> str:
        """Run `body` (PHP statements) with WordPress loaded; returns what it printed. `peak_rss_kib`
        keeps the largest peak RSS of any such PHP process."""
        script = self.workdir / f"run-{next(_instances)}.php"
        script.write_text(
            "<?php\n"
            f"require '{WORDPRESS_ROOT}/wp-load.php';\n"
            "require_once ABSPATH . 'wp-admin/includes/image.php';\n"
            "require_once ABSPATH . 'wp-admin/includes/file.php';\n"
            "require_once ABSPATH . 'wp-admin/includes/media.php';\n" + body,
            encoding="utf-8",
        )
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            process = subprocess.Popen(["php", str(script), *args], stdout=out, stderr=err, env=self.env())
            watcher = watch_peak_rss(process)
            process.wait()
            watcher.join()
            self.peak_rss_kib = max(self.peak_rss_kib, watcher.peak_kib)  # type: ignore[attr-defined]
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if process.returncode != 0:
            raise RuntimeError(f"php failed ({process.returncode}): {(stderr or stdout)[-2000:]}")
        return stdout

    def create_subsizes(self, files: list[Path], editor: str = "WP_Image_Editor_GD") -> list[dict]:
        """Upload each file as WordPress's media library does (copy into uploads, insert the
        attachment, `wp_create_image_subsizes`) with the given image editor; returns each attachment's
        metadata plus `seconds`, the time wp_create_image_subsizes took."""
        body = f"""
add_filter('wp_image_editors', function () {{ return ['{editor}']; }});
$out = [];
foreach (array_slice($argv, 1) as $source) {{
    $dir = wp_upload_dir()['path'];
    $name = wp_unique_filename($dir, basename($source));
    $file = $dir . '/' . $name;
    copy($source, $file);
    $mime = wp_check_filetype($file)['type'];
    $id = wp_insert_attachment(['post_mime_type' => $mime, 'post_title' => $name, 'post_status' => 'inherit'],
                               $file);
    $start = microtime(true);
    $meta = wp_create_image_subsizes($file, $id);
    $meta['seconds'] = microtime(true) - $start;
    $meta['upload_name'] = $name;
    $out[] = $meta;
}}
echo json_encode($out);
"""
        return list(json.loads(self.php(body, *map(str, files))))


@contextlib.contextmanager
def running_wordpress(
    workdir: Path | None = None,
    *,
    serve: bool = False,
    workers: int = 4,
    pretty_permalinks: bool = True,
    max_body_mb: float | None = None,
) -> Iterator[WordPress]:
    """Start a private MariaDB, install a fresh WordPress into it (served over HTTP with `serve`),
    yield it, and remove it all."""
    lacks = missing()
    if lacks:
        raise WordPressUnavailable(
            f"a real WordPress needs {', '.join(lacks)}: run `sudo bash scripts/install_system_packages.sh`"
        )
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gcs2s3-wp-")))
        workdir.mkdir(parents=True, exist_ok=True)
        socket = workdir / "mariadb.sock"
        stack.enter_context(_mariadb(workdir / "db", socket))
        content = workdir / "wp-content"
        (content / "uploads").mkdir(parents=True, exist_ok=True)
        (content / "plugins").mkdir(exist_ok=True)
        with contextlib.suppress(FileExistsError):
            (content / "themes").symlink_to(WORDPRESS_ROOT / "wp-content" / "themes")
        name = f"gcs2s3-{os.getpid()}-{next(_instances)}"
        config = CONFIG_DIR / f"config-{name}.php"
        CONFIG_DIR.mkdir(parents=True, exist_ok=True)
        port = free_port() if serve else 0
        url = f"http://127.0.0.1:{port}" if serve else "http://127.0.0.1"
        config.write_text(_config_php(socket, content, url), encoding="utf-8")
        stack.callback(config.unlink, missing_ok=True)
        wordpress = WordPress(workdir, socket, name, content)
        _install(wordpress)
        if serve:
            structure = "/%postname%/" if pretty_permalinks else ""
            wordpress.app_password = wordpress.php(
                f"update_option('permalink_structure', '{structure}'); flush_rewrite_rules(false);\n"
                "$user = get_user_by('login', 'admin');\n"
                "[$password] = WP_Application_Passwords::create_new_application_password($user->ID, "
                "['name' => 'gcs2s3']);\necho $password;\n"
            ).strip()
            stack.enter_context(_served(wordpress, port, workers, max_body_mb))
            wordpress.url = url
        yield wordpress


ROUTER = """<?php
// Routes requests as wp-cli's `wp server` does; our wp-content lives outside the document root.
$_SERVER['WORDPRESS_CONFIG'] = '%(name)s';
$limit = %(limit)d;
if ($limit > 0 && (int) ($_SERVER['CONTENT_LENGTH'] ?? 0) > $limit) {
    http_response_code(413);
    header('Content-Type: text/html');
    echo '<html><head><title>413 Request Entity Too Large</title></head><body>client_max_body_size</body></html>';
    return true;
}
$root = '%(root)s';
$content = '%(content)s';
$path = '/' . ltrim(rawurldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) ?? '/'), '/');
if (strpos($path, '/wp-content/') === 0) {
    $file = realpath($content . substr($path, strlen('/wp-content')));
    if ($file !== false && strpos($file, realpath($content) . '/') === 0 && is_file($file)) {
        header('Content-Type: ' . (mime_content_type($file) ?: 'application/octet-stream'));
        header('Content-Length: ' . filesize($file));
        readfile($file);
    } else {
        http_response_code(404);
    }
    return true;
}
if ($path !== '/' && file_exists($root . $path)) {
    if (is_dir($root . $path)) {
        $path = rtrim($path, '/') . '/index.php';
    }
    if (substr($path, -4) === '.php' && is_file($root . $path)) {
        chdir(dirname($root . $path));
        require $root . $path;
        return true;
    }
    return false;
}
chdir($root);
require $root . '/index.php';
"""


@contextlib.contextmanager
def _served(wordpress: WordPress, port: int, workers: int, max_body_mb: float | None) -> Iterator[None]:
    router = wordpress.workdir / "router.php"
    limit = int(max_body_mb * 1024 * 1024) if max_body_mb else 0
    router.write_text(ROUTER % {"name": wordpress.config_name, "limit": limit, "root": WORDPRESS_ROOT,
                                "content": wordpress.content_dir}, encoding="utf-8")
    env = {**wordpress.env(), "PHP_CLI_SERVER_WORKERS": str(workers)}
    command = ["php", "-d", "upload_max_filesize=256M", "-d", "post_max_size=256M", "-d", "memory_limit=512M",
               "-S", f"127.0.0.1:{port}", "-t", str(WORDPRESS_ROOT), str(router)]

    def answers() -> bool:
        with contextlib.suppress(OSError), socket_module.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        return False

    with _process("php -S", command, wordpress.workdir / "php-server.log", answers, env=env):
        yield


def _config_php(socket: Path, content: Path, url: str) -> str:
    salts = "".join(
        f"define('{key}', '{os.urandom(24).hex()}');\n"
        for key in ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT",
                    "LOGGED_IN_SALT", "NONCE_SALT")
    )
    return (
        "<?php\n"
        "define('DB_NAME', 'wordpress');\ndefine('DB_USER', 'root');\ndefine('DB_PASSWORD', '');\n"
        f"define('DB_HOST', 'localhost:{socket}');\n"
        f"define('WP_CONTENT_DIR', '{content}');\n"
        "define('WP_ENVIRONMENT_TYPE', 'local');\n"
        f"define('WP_HOME', '{url}');\ndefine('WP_SITEURL', '{url}');\n"
        f"define('WP_CONTENT_URL', '{url}/wp-content');\n"
        "define('DISABLE_WP_CRON', true);\ndefine('AUTOMATIC_UPDATER_DISABLED', true);\n"
        "define('WP_HTTP_BLOCK_EXTERNAL', true);\n" + salts
    )


def _install(wordpress: WordPress) -> None:
    subprocess.run(["mariadb", "--no-defaults", f"--socket={wordpress.socket}", "-u", "root", "-e",
                    "CREATE DATABASE wordpress"], check=True, capture_output=True)
    script = wordpress.workdir / "install.php"
    script.write_text(
        "<?php\ndefine('WP_INSTALLING', true);\n"
        f"require '{WORDPRESS_ROOT}/wp-load.php';\n"
        "require_once ABSPATH . 'wp-admin/includes/upgrade.php';\n"
        "$r = wp_install('gcs2s3 peer', 'admin', 'admin@example.invalid', false, '', wp_generate_password(24));\n"
        "echo $r['user_id'];\n",
        encoding="utf-8",
    )
    done = subprocess.run(["php", str(script)], capture_output=True, text=True, env=wordpress.env(), timeout=120)
    if done.returncode != 0 or not done.stdout.strip().isdigit():
        raise RuntimeError(f"WordPress install failed: {(done.stderr or done.stdout)[-2000:]}")


@contextlib.contextmanager
def _mariadb(datadir: Path, socket: Path) -> Iterator[None]:
    """A private mariadbd: own data directory, Unix socket only, no grant tables (nothing to guard)."""
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--skip-test-db",
                    "--auth-root-authentication-method=normal", *user],
                   check=True, capture_output=True, timeout=120)
    command = [MARIADBD, "--no-defaults", f"--datadir={datadir}", f"--socket={socket}", "--skip-networking",
               "--skip-grant-tables", f"--pid-file={datadir.parent / 'mariadb.pid'}",
               "--innodb-buffer-pool-size=32M", *user]
    with _process("mariadbd", command, datadir.parent / "mariadb.log", socket.exists):
        yield


@contextlib.contextmanager
def _process(
    what: str, command: list[str], log_path: Path, ready: Callable[[], bool], *, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run `command` (output to `log_path`) until the block ends, once `ready()` says it serves; then
    stop it with every process it forked (`php -S` forks its workers), whatever ended the block."""
    process = spawn(command, log_path, env)
    running = Emulator(what, "", process, log_path)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start: {log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield
    finally:
        running.stop()

"""report.html opens in a real headless browser (Debian's chromium) with every image loading."""
import re
import shutil
import subprocess

import pytest

from ops.evaluate import run
from tests.fixtures.evaluation import TableSource, make_table

CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  const out = document.createElement("div");
  out.id = "img-check";
  out.textContent = `total=${imgs.length} ok=${imgs.length - broken.length} broken=${broken.join("|")}`;
  document.body.appendChild(out);
});
</script>
"""


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    return exe


def check_images(html_path, tmp_path):
    """Open a copy of the page with the checking script added; returns (total, ok, broken)."""
    page = tmp_path / f"checked-{html_path.name}"
    page.write_text(html_path.read_text().replace("</body>", CHECK + "</body>"))
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    found = re.search(r'<div id="img-check">total=(\d+) ok=(\d+) broken=([^<]*)</div>', proc.stdout)
    assert found, f"no result from chromium (rc {proc.returncode}): {proc.stderr[-2000:]}"
    return int(found[1]), int(found[2]), found[3]


@pytest.fixture(scope="module")
def report_dir(eval_set, tmp_path_factory):
    lst, data, classes, entries = eval_set
    out = tmp_path_factory.mktemp("html")
    report = run.evaluate(lst, data, out / "r", TableSource(make_table(entries, data, 4, 11)),
                          cache_path=out / "c.sqlite", options=run.Options(progress=False))
    return out / "r", report


def test_every_image_of_the_report_loads_in_a_browser(report_dir, tmp_path):
    folder, report = report_dir
    total, ok, broken = check_images(folder / "report.html", tmp_path)
    assert total == len(report["files"]["plots"]) >= 6
    assert ok == total, f"broken images: {broken}"


def test_the_check_sees_a_broken_image(report_dir, tmp_path):
    folder, _ = report_dir
    html = (folder / "report.html").read_text()
    damaged = tmp_path / "damaged.html"
    damaged.write_text(html.replace('src="data:image/png;base64,iVBOR',
                                    'src="data:image/png;base64,AAAA', 1))
    total, ok, broken = check_images(damaged, tmp_path)
    assert ok == total - 1 and broken == "recall per breed"

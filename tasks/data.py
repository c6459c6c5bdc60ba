"""Photos → LST files: `invoke data.download`, `invoke lst` (render) and `invoke lst.info`."""
from __future__ import annotations

from invoke import Collection

from tasks import options
from tasks.command import command


@command(default=True, positional=[], parse={
    "test_fraction": options.Number(0, 1), "seed": options.Integer(0), "folds": options.Integer(2),
    "min_size": options.Size(),
}, help={
    "data": "images root: one folder per breed, <wnid>-<breed>/<file>.jpg (default: .dogs/data/Images,"
            " where data.download puts it)",
    "out": "folder for the LST files, classes.json and scan_report.json (default: .dogs/lst)",
    "test-fraction": "share of each breed's photos in the test set (default 0.2)",
    "seed": "seed of the split (default 0): same photos + seed give byte-identical files",
    "folds": "write K stratified folds <name>_fold_<k>_{train,test}.lst instead of one split",
    "classes": "breeds to use: the first N (a number) or comma-separated folder/display names",
    "name": "file name prefix (default dogs: dogs_train.lst, dogs_test.lst)",
    "strict": "fail (exit 2) if any photo is bad instead of leaving it out",
    "min-size": "smallest usable photo, N or HxW (default: config image_shape; 0: no check)",
})
def render(c, data=None, out=None, test_fraction=None, seed=0, folds=None, classes=None, name="dogs",
           strict=False, min_size=None, config=None):
    """Scan a folder of dog photos, check them, and write train/test LST files + classes.json."""
    import ops.data.lst_summary as lst_summary

    result = lst_summary.render(data, out, test_fraction=test_fraction, folds=folds, min_size=min_size,
                                config_path=config, seed=seed, classes=classes, name=name,
                                strict=strict)
    lst_summary.print_render(result)


@command(help={
    "files": "LST files, comma-separated; a folder means its *.lst files",
    "classes-file": "classes.json (or a text file of breed folders, one a line) to name the classes",
    "per-class": "print the images per class of every file",
})
def info(c, files, classes_file=None, per_class=False):
    """Describe LST files: samples, classes, images per class, and num_classes/num_training_samples."""
    import ops.data.lst_summary as lst_summary

    lst_summary.describe(files, classes_file, per_class=per_class)


@command(positional=[], parse={"breeds": options.COUNT, "retries": options.Integer(0)}, help={
    "dest": "folder for the archive and Images/ (default: .dogs/data)",
    "url": "archive URL (default: the official Stanford Dogs images.tar)",
    "checksum": "md5:<hex> or sha256:<hex> of the archive (default: the known MD5); none: skip",
    "breeds": "extract only the first N breeds (sorted by folder)",
    "retries": "times to resume after a cut connection (default 3)",
})
def download(c, dest=None, url=None, checksum=None, breeds=None, retries=3):
    """Download Stanford Dogs (images.tar, resumable, checksum-verified) and unpack it to Images/."""
    import ops.data.download as dl
    import ops.data.lst_summary as lst_summary
    import ops.core.state as state

    checksum = dl.DEFAULT_CHECKSUM if checksum is None else checksum
    result = dl.download(dest or state.home() / "data", url=url or dl.DEFAULT_URL, checksum=checksum,
                         breeds=breeds, retries=retries)
    lst_summary.print_download(result, checked=dl.parse_checksum(checksum) is not None)


lst = Collection("lst")
lst.add_task(render, name="render", default=True)
lst.add_task(info, name="info")
data = Collection("data")
data.add_task(download, name="download")

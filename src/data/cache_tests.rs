use super::*;
use crate::config::DatasetKind;
use crate::error::exit_code;
use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use std::os::unix::fs::MetadataExt;
use tch::{Kind, Tensor};

fn settings(dir: &Path, image_size: Option<usize>) -> DataSettings {
    DataSettings { dataset: DatasetKind::Folder, data_dir: dir.to_path_buf(), image_size, ..DataSettings::default() }
}

/// Image `i` of class `class`: a colour per class and a pixel that tells the images apart.
fn picture(class: u8, i: u32, size: u32) -> RgbImage {
    RgbImage::from_fn(size, size, |x, y| {
        if (x, y) == (0, 0) {
            Rgb([i as u8, 0, 0])
        } else {
            Rgb([200 * (class == 0) as u8, 100, 200 * (class == 1) as u8])
        }
    })
}

/// DIR/{train,test}/{ant,bee}/N.png: `per_class` training and 2 test images of 8×8 per class.
fn folder(per_class: u32) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (split, n) in [("train", per_class), ("test", 2)] {
        for (class, name) in ["ant", "bee"].iter().enumerate() {
            let dir = tmp.path().join(split).join(name);
            fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                picture(class as u8, i, 8).save(dir.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    tmp
}

fn the_cache(dir: &Path) -> PathBuf {
    let caches: Vec<PathBuf> = fs::read_dir(dir.join(CACHE_FOLDER)).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(caches.len(), 1, "one cache and nothing else: {caches:?}");
    caches[0].clone()
}

/// The error of a load that must fail.
fn failure(settings: &DataSettings) -> anyhow::Error {
    load(settings, Device::Cpu, false).err().expect("the load fails")
}

fn inode(path: &Path) -> u64 {
    fs::metadata(path).unwrap().ino()
}

#[test]
fn a_folder_becomes_padded_training_and_plain_test_images_with_names_and_statistics() {
    let tmp = folder(3);
    let data = load(&settings(tmp.path(), None), Device::Cpu, false).unwrap();
    assert_eq!((data.image_size, data.pad, data.classes), (8, 1, 2), "the images' own size");
    assert_eq!(data.class_names.as_deref(), Some(&["ant".to_string(), "bee".to_string()][..]));
    assert_eq!((data.train.len, data.test.len), (6, 4));
    assert_eq!(data.train.images.size(), [6, 3, 10, 10]);
    assert_eq!(data.test.images.size(), [4, 3, 8, 8]);
    assert_eq!(Vec::<i64>::try_from(&data.train.labels).unwrap(), [0, 0, 0, 1, 1, 1]);
    // Training image 4 is bee/1.png, framed by a pixel of zeros; the test images as they are.
    let (planes, _) = decode::decode(&tmp.path().join("train/bee/1.png"), 8).unwrap();
    let want = Tensor::from_slice(&planes).view([3, 8, 8]);
    assert!(data.train.images.get(4).narrow(1, 1, 8).narrow(2, 1, 8).equal(&want));
    assert_eq!(data.train.images.get(4).sum(Kind::Int64).int64_value(&[]), want.sum(Kind::Int64).int64_value(&[]));
    let (planes, _) = decode::decode(&tmp.path().join("test/ant/1.png"), 8).unwrap();
    assert!(data.test.images.get(1).equal(&Tensor::from_slice(&planes).view([3, 8, 8])));
    // Statistics of the training images: green is 100 everywhere but at the marked pixel.
    let green = (100.0 * 63.0) / 64.0;
    assert!((data.mean[1] - green).abs() < 1e-9, "{:?}", data.mean);
    assert!((data.mean[0] - (200.0 * 63.0 * 3.0 + 6.0) / (6.0 * 64.0)).abs() < 1e-9, "{:?}", data.mean);
    assert!(data.source.contains("image folder") && data.source.contains("test split test/"), "{}", data.source);
}

#[test]
fn the_cache_is_reused_until_a_file_changes_or_comes_or_goes() {
    let tmp = folder(2);
    let s = settings(tmp.path(), None);
    load(&s, Device::Cpu, false).unwrap();
    let cache = the_cache(tmp.path());
    let first = inode(&cache);
    load(&s, Device::Cpu, false).unwrap();
    assert_eq!(inode(&cache), first, "reused, not rewritten");
    // The same size and bytes, a later modification time: rebuilt.
    let file = tmp.path().join("train/ant/0.png");
    let later = fs::metadata(&file).unwrap().modified().unwrap() + std::time::Duration::from_secs(5);
    File::options().write(true).open(&file).unwrap().set_modified(later).unwrap();
    load(&s, Device::Cpu, false).unwrap();
    let second = inode(&the_cache(tmp.path()));
    assert_ne!(second, first, "a new mtime rebuilds");
    picture(1, 9, 8).save(tmp.path().join("train/ant/extra.png")).unwrap();
    let data = load(&s, Device::Cpu, false).unwrap();
    assert_eq!(data.train.len, 5);
    assert_ne!(inode(&the_cache(tmp.path())), second, "a new file rebuilds");
    fs::remove_file(tmp.path().join("test/bee/1.png")).unwrap();
    assert_eq!(load(&s, Device::Cpu, false).unwrap().test.len, 3, "a removed file rebuilds");
    // Another image size is another cache, beside the first.
    let big = load(&settings(tmp.path(), Some(12)), Device::Cpu, false).unwrap();
    assert_eq!((big.image_size, big.pad, big.train.images.size()[2]), (12, 2, 16));
    assert_eq!(fs::read_dir(tmp.path().join(CACHE_FOLDER)).unwrap().count(), 2);
}

#[test]
fn unreadable_images_are_skipped_and_counted_or_refused_under_strict() {
    let tmp = folder(3);
    fs::write(tmp.path().join("train/ant/1.png"), b"not a png").unwrap();
    fs::write(tmp.path().join("test/bee/0.png"), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
    let strict = DataSettings { strict: true, ..settings(tmp.path(), Some(8)) };
    let err = format!("{:#}", failure(&strict));
    assert!(err.contains("train/ant/1.png") && err.contains("--strict") && err.contains("2 cannot"), "{err}");
    let leftovers: Vec<_> = fs::read_dir(tmp.path().join(CACHE_FOLDER)).unwrap().collect();
    assert!(leftovers.is_empty(), "a failed build leaves nothing: {leftovers:?}");
    let data = load(&settings(tmp.path(), Some(8)), Device::Cpu, false).unwrap();
    assert_eq!((data.train.len, data.test.len), (5, 3));
    assert_eq!(Vec::<i64>::try_from(&data.train.labels).unwrap(), [0, 0, 1, 1, 1], "labels follow the kept images");
    // The first kept ant is 0.png, the second 2.png (1.png was skipped): their marked pixels say so.
    assert_eq!(data.train.images.int64_value(&[1, 0, 1, 1]), 2);
    // A cache that left images out is refused under --strict.
    let err = format!("{:#}", failure(&strict));
    assert!(err.contains("cannot be decoded") && err.contains("--strict"), "{err}");
}

#[test]
fn sizes_must_agree_unless_one_is_given_and_colours_become_rgb() {
    let tmp = folder(2);
    GrayImage::from_pixel(12, 12, Luma([90])).save(tmp.path().join("train/ant/grey.png")).unwrap();
    RgbaImage::from_pixel(16, 10, Rgba([9, 8, 7, 100])).save(tmp.path().join("train/bee/wide.png")).unwrap();
    RgbImage::from_pixel(20, 20, Rgb([50, 60, 70]))
        .save_with_format(tmp.path().join("test/bee/photo.JPG"), image::ImageFormat::Jpeg)
        .unwrap();
    let err = failure(&settings(tmp.path(), None));
    assert_eq!(exit_code(&err), 2);
    assert!(err.to_string().contains("differ in size") && err.to_string().contains("pass --image-size"), "{err}");
    let data = load(&settings(tmp.path(), Some(8)), Device::Cpu, false).unwrap();
    assert_eq!((data.train.len, data.test.len), (6, 5));
    // ant/grey.png sorts after 0.png and 1.png: grey 90 on all three channels.
    assert!(data.train.images.get(2).narrow(1, 1, 8).narrow(2, 1, 8).eq(90).all().int64_value(&[]) == 1);
    let one = tempfile::tempdir().unwrap();
    for split in ["train", "test"] {
        fs::create_dir_all(one.path().join(split).join("x")).unwrap();
        RgbImage::new(6, 4).save(one.path().join(split).join("x/a.png")).unwrap();
    }
    let err = failure(&settings(one.path(), None)).to_string();
    assert!(err.contains("are 6x4") && err.contains("--image-size"), "{err}");
}

#[test]
fn a_damaged_cache_is_rebuilt_and_a_cache_folder_that_cannot_be_made_is_named() {
    let tmp = folder(2);
    let s = settings(tmp.path(), None);
    load(&s, Device::Cpu, false).unwrap();
    let cache = the_cache(tmp.path());
    let bytes = fs::read(&cache).unwrap();
    fs::write(&cache, &bytes[..bytes.len() - 3]).unwrap();
    assert_eq!(load(&s, Device::Cpu, false).unwrap().train.len, 4);
    assert_eq!(fs::read(&cache).unwrap(), bytes, "rebuilt as it was");
    // A temporary file of a build that was killed is cleared by the next build.
    let stale = cache.with_file_name(format!(".{}.4000000.tmp", cache.file_name().unwrap().to_string_lossy()));
    fs::write(&stale, b"half").unwrap();
    fs::remove_file(&cache).unwrap();
    load(&s, Device::Cpu, false).unwrap();
    assert!(!stale.exists());
    let blocked = DataSettings { cache_dir: Some(tmp.path().join("train/ant/0.png/cache")), ..s };
    let err = format!("{:#}", failure(&blocked));
    assert!(err.contains("cannot create the cache folder") && err.contains("--cache-dir"), "{err}");
}

#[test]
fn a_valid_fraction_splits_one_folder() {
    let tmp = tempfile::tempdir().unwrap();
    for (class, name) in ["ant", "bee"].iter().enumerate() {
        fs::create_dir_all(tmp.path().join(name)).unwrap();
        for i in 0..10 {
            picture(class as u8, i, 8).save(tmp.path().join(name).join(format!("{i}.png"))).unwrap();
        }
    }
    let s = DataSettings { valid_fraction: Some(0.2), ..settings(tmp.path(), None) };
    let data = load(&s, Device::Cpu, false).unwrap();
    assert_eq!((data.train.len, data.test.len, data.classes), (16, 4, 2));
    assert!(data.source.contains("20% of each class"), "{}", data.source);
    assert!(the_cache(tmp.path()).to_string_lossy().ends_with("-auto-valid0.2.clrcache"));
}

//! One image file to the pixels the network sees, the same way for an image folder's cache and
//! for `clr predict`: decoded by its content (PNG or JPEG, whatever its name says), converted to
//! RGB (grey replicated, alpha dropped), resized so that its shorter side is S (a triangle
//! filter, which averages over the pixels it shrinks) and centre-cropped to S×S, as torchvision's
//! `Resize(S)` + `CenterCrop(S)`. An image that already is S×S is not resampled.

use anyhow::{Context, Result};
use image::imageops::{self, FilterType};
use image::{ColorType, DynamicImage, ImageBuffer, Pixel, RgbImage};
use std::path::Path;

/// The resampling filter of every resize (folders, `predict`, MNIST at other sizes).
pub const FILTER: FilterType = FilterType::Triangle;

/// The extensions an image folder's files may have (any case).
pub const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// What colours a file held before it became RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Rgb,
    /// Grey (one channel): replicated to three.
    Grey,
    /// With an alpha channel (RGBA, grey + alpha): the alpha is dropped.
    Alpha,
}

/// Whether `path` has one of the [`EXTENSIONS`].
pub fn is_image_file(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

/// Decode `path` (errors say why, without the path: callers name it).
pub fn open(path: &Path) -> Result<DynamicImage> {
    let reader = image::io::Reader::open(path)?.with_guessed_format()?;
    Ok(reader.decode()?)
}

/// The width and height in `path`'s header (its pixels are not decoded).
pub fn dimensions(path: &Path) -> Result<(u32, u32)> {
    Ok(image::io::Reader::open(path)?.with_guessed_format()?.into_dimensions()?)
}

pub fn colour_of(image: &DynamicImage) -> Colour {
    match image.color() {
        ColorType::L8 | ColorType::L16 => Colour::Grey,
        c if c.has_alpha() => Colour::Alpha,
        _ => Colour::Rgb,
    }
}

/// `image` resized so that its shorter side is `size`, then centre-cropped to `size`×`size`.
pub fn fit<P: Pixel + 'static>(
    image: &ImageBuffer<P, Vec<P::Subpixel>>,
    size: u32,
) -> ImageBuffer<P, Vec<P::Subpixel>> {
    let (w, h) = image.dimensions();
    if (w, h) == (size, size) {
        return image.clone();
    }
    let scale = size as f64 / w.min(h) as f64;
    let (nw, nh) = (((w as f64 * scale).round() as u32).max(size), ((h as f64 * scale).round() as u32).max(size));
    let resized = imageops::resize(image, nw, nh, FILTER);
    imageops::crop_imm(&resized, (nw - size) / 2, (nh - size) / 2, size, size).to_image()
}

/// The three colour planes of `rgb` (S×S) into `out`, a `side`×`side`×3 planar image, `pad`
/// pixels in from the top and the left (the rest of `out` is left as it is: zeros).
pub fn write_planes(rgb: &RgbImage, out: &mut [u8], side: usize, pad: usize) {
    let plane = side * side;
    for (x, y, pixel) in rgb.enumerate_pixels() {
        let at = (y as usize + pad) * side + x as usize + pad;
        for c in 0..3 {
            out[c * plane + at] = pixel.0[c];
        }
    }
}

/// The file at `path` as the network sees it: 3 planes of `size`×`size` bytes, and what colours it held.
pub fn decode(path: &Path, size: u32) -> Result<(Vec<u8>, Colour)> {
    let image = open(path).with_context(|| format!("cannot decode {}", path.display()))?;
    let colour = colour_of(&image);
    let rgb = fit(&image.to_rgb8(), size);
    let side = size as usize;
    let mut out = vec![0u8; 3 * side * side];
    write_planes(&rgb, &mut out, side, 0);
    Ok((out, colour))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, Rgba, RgbaImage};

    #[test]
    fn png_and_jpeg_decode_by_content_to_planes_of_any_colour() {
        let dir = tempfile::tempdir().unwrap();
        let rgb = RgbImage::from_fn(4, 4, |x, y| Rgb([x as u8 * 10, y as u8 * 10, 200]));
        let png = dir.path().join("a.png");
        rgb.save(&png).unwrap();
        let (planes, colour) = decode(&png, 4).unwrap();
        assert_eq!(colour, Colour::Rgb);
        assert_eq!((planes[1], planes[16 + 4], planes[32 + 15]), (10, 10, 200), "red, green, blue planes");
        let grey = dir.path().join("g.png");
        GrayImage::from_pixel(4, 4, Luma([77])).save(&grey).unwrap();
        let (planes, colour) = decode(&grey, 4).unwrap();
        assert_eq!((colour, planes.iter().all(|&v| v == 77)), (Colour::Grey, true));
        let rgba = dir.path().join("t.png");
        RgbaImage::from_pixel(4, 4, Rgba([1, 2, 3, 0])).save(&rgba).unwrap();
        let (planes, colour) = decode(&rgba, 4).unwrap();
        assert_eq!((colour, planes[0], planes[16], planes[32]), (Colour::Alpha, 1, 2, 3));
        // A JPEG named .png decodes as what it is.
        let jpeg = dir.path().join("really-a-jpeg.png");
        RgbImage::from_pixel(8, 8, Rgb([120, 60, 30])).save_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
        let (planes, _) = decode(&jpeg, 8).unwrap();
        assert!((planes[0] as i32 - 120).abs() <= 3 && (planes[64] as i32 - 60).abs() <= 3, "{:?}", &planes[..2]);
        assert_eq!(dimensions(&jpeg).unwrap(), (8, 8));
        let bad = dir.path().join("bad.png");
        std::fs::write(&bad, b"not an image").unwrap();
        let err = format!("{:#}", decode(&bad, 4).unwrap_err());
        assert!(err.contains("cannot decode") && err.contains("bad.png"), "{err}");
    }

    #[test]
    fn the_shorter_side_becomes_size_and_the_centre_is_kept() {
        // 12×6: left third black, middle white, right third black; to 3×3 the centre column is white.
        let wide = GrayImage::from_fn(12, 6, |x, _| Luma([if (4..8).contains(&x) { 255 } else { 0 }]));
        let small = fit(&wide, 3);
        assert_eq!(small.dimensions(), (3, 3));
        assert!(small.get_pixel(1, 1).0[0] > 200 && small.get_pixel(0, 1).0[0] < 60, "{:?}", small);
        let tall = GrayImage::new(5, 20);
        assert_eq!(fit(&tall, 10).dimensions(), (10, 10));
        let same = GrayImage::from_fn(6, 6, |x, y| Luma([(x * 6 + y) as u8]));
        assert_eq!(fit(&same, 6), same, "no resampling at its own size");
        let mut out = vec![0u8; 3 * 8 * 8];
        write_planes(&RgbImage::from_pixel(6, 6, Rgb([9, 8, 7])), &mut out, 8, 1);
        assert_eq!((out[0], out[9], out[64 + 9], out[128 + 6 * 8 + 6], out[128 + 7 * 8 + 7]), (0, 9, 8, 7, 0));
        assert!(is_image_file(Path::new("x/A.JPG")) && is_image_file(Path::new("b.jpeg")));
        assert!(!is_image_file(Path::new("notes.txt")) && !is_image_file(Path::new("png")));
    }
}

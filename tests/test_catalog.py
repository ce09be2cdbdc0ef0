"""Loading the MovieLens CSV and ml-100k layouts, metadata joins, and errors on broken files."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from recengine.datasets import resolve_dataset
from recengine.errors import DatasetError, UnknownMovieError
from recengine.metadata import read_imdb5000, read_tmdb
from recengine.movielens import load_folder
from recengine.titles import parse_movielens_title

FIXTURES = Path(__file__).parent / "fixtures"
ML_TINY = FIXTURES / "ml-tiny"
TMDB = FIXTURES / "tmdb"
ML100K_TINY = FIXTURES / "ml-100k-tiny"


@pytest.mark.parametrize(
    ("raw", "title", "year", "alternatives"),
    [
        ("Matrix, The (1999)", "The Matrix", 1999, ()),
        ("Run Lola Run (Lola rennt) (1998)", "Run Lola Run", 1998, ("Lola rennt",)),
        ("Independence Day (a.k.a. ID4) (1996)", "Independence Day", 1996, ("ID4",)),
        ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", "The City of Lost Children", 1995, ("La Cité des enfants perdus",)),
        ("Auberge espagnole, L' (2002)", "L'Auberge espagnole", 2002, ()),
        ("(500) Days of Summer (2009)", "(500) Days of Summer", 2009, ()),
        ("Babylon 5", "Babylon 5", None, ()),
        ("Lord of the Rings: The Two Towers, The (2002)", "The Lord of the Rings: The Two Towers", 2002, ()),
        ("Men in Black II (a.k.a. MIIB) (a.k.a. MIB 2) (2002)", "Men in Black II", 2002, ("MIIB", "MIB 2")),
    ],
)
def test_parse_movielens_title(raw, title, year, alternatives):
    parsed = parse_movielens_title(raw)
    assert parsed.title == title
    assert parsed.year == year
    assert parsed.alt_titles == alternatives


def test_display_title():
    assert parse_movielens_title("Matrix, The (1999)").display_title == "The Matrix (1999)"
    assert parse_movielens_title("Babylon 5").display_title == "Babylon 5"


def test_csv_layout_columns_and_statistics():
    data = load_folder(ML_TINY)
    matrix = data.catalog.movie(1)
    assert matrix.display_title == "The Matrix (1999)"
    assert matrix.genres == ("Action", "Sci-Fi", "Thriller")
    assert matrix.rating_count == 4
    assert matrix.rating_mean == pytest.approx(4.5)
    # "cyberpunk" was applied twice (once capitalised), so it comes before "philosophy".
    assert matrix.tags == ("cyberpunk", "philosophy")
    assert matrix.imdb_id == 133093 and matrix.tmdb_id == 603
    assert data.catalog.movie(6).alt_titles == ("Lola rennt",)
    unrated = data.catalog.movie(9)
    assert unrated.genres == () and unrated.rating_count == 0 and unrated.rating_mean is None
    assert len(data.ratings) == 22
    assert list(data.ratings.columns) == ["user_id", "movie_id", "rating", "timestamp"]


def test_unknown_movie_id_raises():
    catalog = load_folder(ML_TINY).catalog
    with pytest.raises(UnknownMovieError, match="999"):
        catalog.movie(999)
    assert 999 not in catalog and 1 in catalog


def test_ml100k_layout():
    data = load_folder(ML100K_TINY)
    movies = data.catalog.movies
    assert movies.loc[2, "display_title"] == "The Shawshank Redemption (1994)"
    assert movies.loc[1, "genres"] == ("Animation", "Children", "Comedy")
    # u.item is Latin-1; the "unknown" genre flag means no genre.
    assert movies.loc[3, "title"] == "Flâneur" and movies.loc[3, "genres"] == ()
    assert data.catalog.movie(1).rating_count == 2
    assert data.ratings["rating"].tolist() == [5.0, 4.0, 3.0, 2.0]


def test_tmdb_layout_gives_director_cast_keywords():
    frame = read_tmdb(TMDB)
    assert frame.loc[603, "director"] == "Lana Wachowski"
    # The cast comes in "order", not in file order: Reeves (0), Fishburne (1), Moss (2).
    assert frame.loc[603, "cast"] == ("Keanu Reeves", "Laurence Fishburne", "Carrie-Anne Moss")
    assert frame.loc[949, "cast"] == ("Al Pacino", "Robert De Niro")
    assert frame.loc[949, "keywords"] == ("robbery", "detective")
    assert frame.loc[90001, "director"] is None
    # The row whose id column holds a date (as the published file has) is skipped.
    assert len(frame) == 3


def test_tmdb_joined_through_links():
    data = load_folder(ML_TINY, tmdb_dir=TMDB)
    heat = data.catalog.movie(2)
    assert heat.director == "Michael Mann"
    assert heat.cast == ("Al Pacino", "Robert De Niro")
    assert data.catalog.movie(3).director is None


def test_imdb5000_joined_through_links(tmp_path):
    imdb = tmp_path / "movie_metadata.csv"
    imdb.write_text(
        "director_name,actor_1_name,actor_2_name,actor_3_name,plot_keywords,movie_imdb_link,movie_title\n"
        "Tom Tykwer,Franka Potente,Moritz Bleibtreu,Herbert Knaup,time|money|running,http://www.imdb.com/title/tt0130827/?ref_=fn_tt_tt_1,Run Lola Run\n"
        "Michael Mann,Al Pacino,Robert De Niro,Val Kilmer,heist,http://www.imdb.com/title/tt0113277/,Heat\n",
        encoding="utf-8",
    )
    assert read_imdb5000(imdb).loc[130827, "keywords"] == ("time", "money", "running")
    # The Movies Dataset wins where both have the movie; IMDB-5000 fills the rest.
    data = load_folder(ML_TINY, imdb_metadata=imdb, tmdb_dir=TMDB)
    assert data.catalog.movie(6).director == "Tom Tykwer"
    assert data.catalog.movie(2).cast == ("Al Pacino", "Robert De Niro")


@pytest.mark.slow
def test_real_small_dataset_with_imdb(movielens_small):
    catalog = movielens_small.catalog
    assert len(catalog) == 9742
    assert len(movielens_small.ratings) == 100836
    matrix = catalog.movie(2571)
    assert matrix.display_title == "The Matrix (1999)"
    assert "Keanu Reeves" in matrix.cast
    assert catalog.movie(2502).director == "Mike Judge"
    assert catalog.movie(48774).director == "Alfonso Cuarón"


# -- broken files -------------------------------------------------------------------------------


def copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / "ml-broken"
    shutil.copytree(ML_TINY, target)
    return target


def test_missing_ratings_file_named(tmp_path):
    folder = copy_fixture(tmp_path)
    (folder / "ratings.csv").unlink()
    with pytest.raises(DatasetError, match=r"ratings\.csv: file not found"):
        load_folder(folder)


def test_truncated_ratings_file(tmp_path):
    folder = copy_fixture(tmp_path)
    text = (folder / "ratings.csv").read_text()
    (folder / "ratings.csv").write_text(text[: text.rindex(",")])  # cut inside the last row
    with pytest.raises(DatasetError, match=r"ratings\.csv: 1 row\(s\) have missing values.*truncated"):
        load_folder(folder)


def test_rating_outside_scale(tmp_path):
    folder = copy_fixture(tmp_path)
    with open(folder / "ratings.csv", "a") as handle:
        handle.write("9,1,7.5,964982799\n")
    with pytest.raises(DatasetError, match=r"ratings\.csv: rating 7\.5 .* outside 0\.5–5"):
        load_folder(folder)


def test_missing_column(tmp_path):
    folder = copy_fixture(tmp_path)
    (folder / "movies.csv").write_text("movieId,name\n1,Heat\n")
    with pytest.raises(DatasetError, match=r"movies\.csv: missing column\(s\) title, genres"):
        load_folder(folder)


def test_non_numeric_id(tmp_path):
    folder = copy_fixture(tmp_path)
    with open(folder / "movies.csv", "a") as handle:
        handle.write("ten,Ten (2002),Drama\n")
    with pytest.raises(DatasetError, match=r"movies\.csv: column movieId has a non-integer value 'ten'"):
        load_folder(folder)


def test_rating_for_unknown_movie(tmp_path):
    folder = copy_fixture(tmp_path)
    with open(folder / "ratings.csv", "a") as handle:
        handle.write("9,404,3.0,964982799\n")
    with pytest.raises(DatasetError, match="movie id 404"):
        load_folder(folder)


def test_malformed_tmdb_list(tmp_path):
    folder = tmp_path / "tmdb"
    shutil.copytree(TMDB, folder)
    (folder / "keywords.csv").write_text("id,keywords\n603,\"[{'id': 83, 'name': 'x'\"\n")
    with pytest.raises(DatasetError, match=r"keywords\.csv: row with id 603 has a malformed list"):
        read_tmdb(folder)


# -- resolving datasets -------------------------------------------------------------------------


def test_resolve_folder_and_zip(settings, tmp_path):
    assert resolve_dataset(ML_TINY, settings) == ML_TINY
    archive = tmp_path / "ml-tiny.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in ML_TINY.iterdir():
            bundle.write(path, f"ml-tiny/{path.name}")
    unpacked = resolve_dataset(archive, settings)
    assert unpacked == settings.var_dir / "datasets" / "ml-tiny" / "ml-tiny"
    assert (unpacked / "movies.csv").read_text() == (ML_TINY / "movies.csv").read_text()
    # A second call finds the stamp and does not unpack again.
    marker = unpacked / "marker"
    marker.write_text("kept")
    assert resolve_dataset(archive, settings) == unpacked
    assert marker.exists()


def test_truncated_zip_is_rejected(settings, tmp_path):
    archive = tmp_path / "ml-cut.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in ML_TINY.iterdir():
            bundle.write(path, f"ml-cut/{path.name}")
    archive.write_bytes(archive.read_bytes()[:300])
    with pytest.raises(DatasetError, match="ml-cut.zip: not a readable zip archive"):
        resolve_dataset(archive, settings)
    assert not (settings.var_dir / "datasets" / "ml-cut").exists()


def test_unknown_dataset_name(settings):
    with pytest.raises(DatasetError, match="Unknown dataset 'ml-999'"):
        resolve_dataset("ml-999", settings)


def test_offline_name_without_mirror(settings, tmp_path):
    offline = settings.with_overrides(data_dir=tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    from recengine.datasets import KNOWN_DATASETS

    assert "ml-25m" in KNOWN_DATASETS
    with pytest.raises(DatasetError, match="downloading is off"):
        resolve_dataset("ml-25m", offline, download=False)
